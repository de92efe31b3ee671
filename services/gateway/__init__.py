"""The read-only HTTP gateway: serves what the analytics workers materialised in Redis, nothing else."""
