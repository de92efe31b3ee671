"""Analytics workers: consume Horde snapshots and reference changes, materialise every view in Redis."""
