"""History and lifecycle: daily roll-ups per model, gaps, and the lifecycle fields of deletion risk.

Pure functions with the clock passed in (``today``/``now`` arguments); the workers fold snapshots
into the current day's roll-up and publish it, the gateway only reads. The contract (fields,
formulas, policy defaults, hysteresis) is ``docs/history.md``.
"""
