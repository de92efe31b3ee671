"""Materialised listing indexes: per-model JSON fragments plus precomputed orders and filters.

The analytics worker builds them once per generation; the gateway answers every preset, sort,
search, page and CSV request by selecting and joining precomputed fragments, never by
recomputing statistics or risk.
"""
