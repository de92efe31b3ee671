"""Horde Model Analytics common package: settings, events, topics, Redis keys and the pure domain core.

Everything under ``shared.domain`` is pure (no I/O, no settings, no clock); the rest is the thin
infrastructure vocabulary that every service shares, so each name is defined exactly once.
"""
