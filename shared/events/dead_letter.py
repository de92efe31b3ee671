"""What travels with a record moved to a dead-letter topic (as headers; the value is kept as is)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

#: Headers added to a dead-lettered record.
HEADER_NAMES = (
    "dlq_source_topic",
    "dlq_source_partition",
    "dlq_source_offset",
    "dlq_error_type",
    "dlq_error",
    "dlq_consumer",
)


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
        """Headers attached to the dead-lettered record (names in ``HEADER_NAMES`` order)."""
        values = (
            self.source_topic,
            str(self.source_partition),
            str(self.source_offset),
            self.error_type,
            self.error[:4000],
            self.consumer,
        )
        return dict(zip(HEADER_NAMES, values, strict=True))
