"""What travels with a record moved to a dead-letter topic (as headers; the value is kept as is,
unless it is too large to publish: then its first ``TRUNCATED_BYTES`` are kept and the headers say
so, with the original size; the original record stays on its topic at the given coordinates).

Every header of the original record travels too (CloudEvents ``ce_*``, ``content-type``, trace and
leader headers), so a dead letter can be inspected, and re-published, as the event it was.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

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
#: Headers added only to a dead-lettered record whose value was truncated.
TRUNCATION_HEADER_NAMES = ("dlq_truncated", "dlq_original_bytes")
#: Lists, comma-separated, the original headers whose value was not UTF-8 and travels base64-encoded.
BASE64_HEADER = "dlq_base64_headers"
#: How much of a value too large to dead-letter whole is kept.
TRUNCATED_BYTES = 1024 * 1024


class DeadLetterReason(BaseModel):
    """Why a record could not be processed, and where it came from."""

    model_config = ConfigDict(frozen=True)

    source_topic: str
    source_partition: int
    source_offset: int
    error_type: str
    error: str
    consumer: str
    #: Size of the original value when only its first ``TRUNCATED_BYTES`` are dead-lettered.
    original_bytes: int | None = None

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
        headers = dict(zip(HEADER_NAMES, values, strict=True))
        if self.original_bytes is not None:
            headers |= dict(zip(TRUNCATION_HEADER_NAMES, ("true", str(self.original_bytes)), strict=True))
        return headers

    def truncated(self, value: bytes, keep: int = TRUNCATED_BYTES) -> tuple[DeadLetterReason, bytes]:
        """The reason and value to dead-letter instead of ``value`` when it is too large."""
        return self.model_copy(update={"original_bytes": len(value)}), value[:keep]


def dead_letter_headers(original: Iterable[tuple[str, bytes]], reason: DeadLetterReason) -> dict[str, str]:
    """The original record's headers followed by the reason's (a reason header wins a name clash).

    Header values travel as text (the publisher encodes them as UTF-8): a value that is not
    UTF-8 is kept base64-encoded and named in ``dlq_base64_headers``, so nothing is lost.
    """
    headers: dict[str, str] = {}
    encoded: list[str] = []
    for name, value in original:
        raw = value or b""
        try:
            headers[name] = raw.decode()
        except UnicodeDecodeError:
            headers[name] = base64.b64encode(raw).decode()
            encoded.append(name)
    if encoded:
        headers[BASE64_HEADER] = ",".join(encoded)
    return headers | reason.to_headers()
