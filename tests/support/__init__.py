"""Test infrastructure: real broker and Redis processes, free ports, bounded waits."""
