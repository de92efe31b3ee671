"""Pure analytics domain: reference and Horde payload models, statistics, merge, deletion risk, names.

Nothing in this package performs I/O, reads settings or the clock: inputs come in as arguments
(thresholds, timestamps) so every function is deterministic and testable on recorded data.
"""
