"""CloudEvents 1.0 attributes carried as Kafka headers (binary content mode).

The record value is the event data as JSON; the attributes travel as ``ce_*`` headers and
``content-type``, per the CloudEvents Kafka protocol binding. Ids are deterministic where the
producer can make them so (a content hash), which lets consumers drop duplicates.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

EVENT_TYPE_PREFIX = "net.aihorde.analytics."
CONTENT_TYPE = "application/json"


class CloudEventAttributes(BaseModel):
    """The CloudEvents context attributes of one record."""

    model_config = ConfigDict(frozen=True)

    id: str
    source: str
    type: str
    time: datetime
    subject: str | None = None
    specversion: str = "1.0"
    datacontenttype: str = CONTENT_TYPE

    def to_headers(self) -> dict[str, str]:
        """Kafka headers in binary mode (``content-type`` carries ``datacontenttype``)."""
        headers = {
            "ce_specversion": self.specversion,
            "ce_id": self.id,
            "ce_source": self.source,
            "ce_type": self.type,
            "ce_time": self.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "content-type": self.datacontenttype,
        }
        if self.subject is not None:
            headers["ce_subject"] = self.subject
        return headers

    @classmethod
    def from_headers(cls, headers: dict[str, str]) -> CloudEventAttributes:
        """Parse the binary-mode headers of a record; raises ``ValueError`` if any is missing."""
        try:
            return cls(
                id=headers["ce_id"],
                source=headers["ce_source"],
                type=headers["ce_type"],
                time=datetime.fromisoformat(headers["ce_time"].replace("Z", "+00:00")),
                subject=headers.get("ce_subject"),
                specversion=headers["ce_specversion"],
                datacontenttype=headers.get("content-type", CONTENT_TYPE),
            )
        except KeyError as missing:
            raise ValueError(f"missing CloudEvents header {missing.args[0]!r}") from None


def event_type(topic_name: str) -> str:
    """CloudEvents ``type`` of the events on a topic: the topic name under our reverse-DNS prefix."""
    return EVENT_TYPE_PREFIX + topic_name
