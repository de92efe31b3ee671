"""AI Horde payload models, case-insensitive indexes and the merge into per-model runtime statistics."""
