"""Removal proposals: candidates chosen by a policy from the risk rows, rendered for review."""
