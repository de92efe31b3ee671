"""Deletion risk: flags, per-model risk info, summaries, presets, grouping and listing (pure functions).

Thresholds come in as a :class:`~shared.domain.risk.thresholds.RiskThresholds` value so the same
inputs always give the same answer (upstream read global settings at serialisation time).
"""
