"""What travels with a record moved to a dead-letter topic (as headers; the value is kept as is)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class DeadLetterReason(BaseModel):
    """Why a record could not be processed, and where it came from."""

    model_config = ConfigDict(frozen=True)

    source_topic: str
    source_partition: int
    source_offset: int
    error_type: str
    error: str
    consumer: str

    def to_headers(self) -> dict[str, str]:
        """Headers attached to the dead-lettered record."""
        return {
            "dlq_source_topic": self.source_topic,
            "dlq_source_partition": str(self.source_partition),
            "dlq_source_offset": str(self.source_offset),
            "dlq_error_type": self.error_type,
            "dlq_error": self.error[:4000],
            "dlq_consumer": self.consumer,
        }
