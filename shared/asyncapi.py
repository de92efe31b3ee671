"""The AsyncAPI document of every topic and message, generated from the code.

Each topic is declared as a faststream publisher with its pydantic payload schema, so the
document cannot drift from the models producers and consumers actually use. Regenerate the
committed copy with ``python -m shared.asyncapi > docs/asyncapi.json`` (a test compares them).
"""

from __future__ import annotations

import json
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from pydantic import BaseModel

from shared.events.dead_letter import HEADER_NAMES
from shared.events.history import CategoryDay
from shared.events.horde import (
    HordeStatsCaptured,
    HordeStatusCaptured,
    HordeWorkersCaptured,
    SourceHealthReported,
)
from shared.events.reference import ReferenceCategoryChanged
from shared.events.risk import DeletionRiskChanged, DeletionRiskCurrent
from shared.topics import (
    HISTORY_DAILY,
    HORDE_SOURCE_HEALTH,
    HORDE_STATS_CAPTURED,
    HORDE_STATUS_CAPTURED,
    HORDE_WORKERS_CAPTURED,
    REFERENCE_CHANGED,
    RISK_CHANGED,
    RISK_CURRENT,
    TopicSpec,
)

#: Every topic with the payload it carries and who writes it.
CATALOGUE: tuple[tuple[TopicSpec, type[BaseModel], str, str], ...] = (
    (HORDE_STATUS_CAPTURED, HordeStatusCaptured, "poller", "key: model type (image|text)"),
    (HORDE_STATS_CAPTURED, HordeStatsCaptured, "poller", "key: model type (image|text)"),
    (HORDE_WORKERS_CAPTURED, HordeWorkersCaptured, "poller", "key: model type (image|text)"),
    (HORDE_SOURCE_HEALTH, SourceHealthReported, "poller", "key: model type"),
    (REFERENCE_CHANGED, ReferenceCategoryChanged, "reference-watcher", "key: category"),
    (RISK_CHANGED, DeletionRiskChanged, "analytics", "key: category/model"),
    (RISK_CURRENT, DeletionRiskCurrent, "analytics", "key: category/model; null value = removed"),
    (HISTORY_DAILY, CategoryDay, "analytics", "key: category/day (UTC); null value = day out of retention"),
)

HEADERS_NOTE = (
    "CloudEvents 1.0 attributes travel as Kafka headers (binary mode): ce_specversion, ce_id, "
    "ce_source, ce_type, ce_time, ce_subject, content-type. Every event about a category is on "
    "partition index(category) % partitions of its topic."
)


def build_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document as a JSON-compatible dict."""
    broker = KafkaBroker("kafka:9092", description=HEADERS_NOTE)
    for spec, model, producer, key in CATALOGUE:
        compaction = "compacted" if spec.compacted else "retained 7 days"
        broker.publisher(
            spec.name,
            schema=model,
            title=spec.name,
            description=f"{spec.description} Written by {producer}; {key}; {compaction}.",
        )
        broker.publisher(
            spec.dead_letter,
            schema=bytes,
            title=spec.dead_letter,
            description=(
                f"Records of {spec.name} that a consumer could not process, value unchanged; "
                f"the reason is in the headers {', '.join(HEADER_NAMES)}."
            ),
        )
    document = AsyncAPI(broker, title="Horde Model Analytics events", version="1", schema_version="3.0.0")
    return dict(document.to_specification().to_jsonable())


def main() -> None:
    print(json.dumps(build_document(), indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
