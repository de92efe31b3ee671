"""The AI Horde poller: fetches status, workers and stats, publishes snapshots when they change."""
