"""Redis adapters: the materialised view generations (written by analytics, read by the gateway)."""
