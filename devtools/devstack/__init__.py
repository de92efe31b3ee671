"""Local infrastructure for development and tests: the embedded broker, redis-server, free ports.

Used by ``make run`` (the whole stack on one machine) and by the test fixtures, so both start
the same processes the same way.
"""
