"""The subscriber kit's own copy of the risk event models stays the models the workers publish."""

from __future__ import annotations

from typing import Any

from horde_risk_subscriber import models as kit
from horde_risk_subscriber.subscriber import CHANGED_TOPIC, CURRENT_TOPIC, cloudevent_of

from shared.events import risk as published
from shared.events.cloudevents import CloudEventAttributes
from shared.topics import RISK_CHANGED, RISK_CURRENT


def _shape(schema: Any) -> Any:
    """A JSON schema without titles and descriptions (docstrings may differ, shapes may not)."""
    if isinstance(schema, dict):
        return {k: _shape(v) for k, v in schema.items() if k not in ("title", "description")}
    if isinstance(schema, list):
        return [_shape(v) for v in schema]
    return schema


def test_kit_models_have_the_published_schemas() -> None:
    for ours, theirs in (
        (kit.DeletionRiskChanged, published.DeletionRiskChanged),
        (kit.DeletionRiskCurrent, published.DeletionRiskCurrent),
        (kit.RiskState, published.RiskState),
        (kit.RiskBasis, published.RiskBasis),
    ):
        assert _shape(ours.model_json_schema()) == _shape(theirs.model_json_schema()), ours.__name__
    assert _shape(kit.CloudEvent.model_json_schema()) == _shape(CloudEventAttributes.model_json_schema())


def test_kit_topics_are_the_published_topics() -> None:
    assert (RISK_CHANGED.name, RISK_CURRENT.name) == (CHANGED_TOPIC, CURRENT_TOPIC)


def test_cloudevent_headers_round_trip() -> None:
    from datetime import UTC, datetime

    attributes = CloudEventAttributes(
        id="x", source="/s", type="t", time=datetime(2026, 1, 2, tzinfo=UTC), subject="image_generation/m"
    )
    parsed = cloudevent_of((k, v.encode()) for k, v in attributes.to_headers().items())
    assert parsed.model_dump() == attributes.model_dump()


def _record(value: bytes | None, headers: list[tuple[str, bytes]], topic: str = CHANGED_TOPIC) -> Any:
    from aiokafka.structs import ConsumerRecord

    return ConsumerRecord(topic, 1, 7, 0, 0, b"k", value, None, 1, len(value or b""), headers)


def test_unreadable_records_are_handed_over_with_their_coordinates_and_the_reason() -> None:
    from datetime import UTC, datetime

    from horde_risk_subscriber import UnreadableRecord, parse_record

    good = CloudEventAttributes(id="x", source="/s", type="t", time=datetime(2026, 1, 2, tzinfo=UTC))
    headers = [(k, v.encode()) for k, v in good.to_headers().items()]
    cases = {
        b"{not json": headers,
        b'{"schema_version": 5}': headers,
        b'{"schema_version": 1, "model": 3}': headers,
        b'{"schema_version": 1}': [],
    }
    reasons = []
    for value, record_headers in cases.items():
        item = parse_record(_record(value, record_headers))
        assert isinstance(item, UnreadableRecord)
        assert (item.partition, item.offset, item.value) == (1, 7, value)
        reasons.append(item.reason)
    assert "upgrade the kit" in reasons[1]
    assert "ce_id" in reasons[3]
