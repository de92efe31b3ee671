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

from shared.events.dead_letter import BASE64_HEADER, HEADER_NAMES, TRUNCATED_BYTES, TRUNCATION_HEADER_NAMES
from shared.events.history import CategoryDay
from shared.events.horde import (
    SourceHealthReported,
)
from shared.events.reference import ReferenceCategoryChanged, ReferenceSourceHealthReported
from shared.events.risk import DeletionRiskChanged, DeletionRiskCurrent
from shared.events.styles import StylesChanged
from shared.horde_sources import HORDE_SOURCES
from shared.topics import (
    HISTORY_DAILY,
    HORDE_SOURCE_HEALTH,
    PARTITION_RULE,
    REFERENCE_CHANGED,
    REFERENCE_SOURCE_HEALTH,
    RISK_CHANGED,
    RISK_CURRENT,
    STYLES_CHANGED,
    TopicSpec,
)

#: How the risk topics are written (HORDE_KAFKA__TRANSACTIONS, docs/risk-events.md "Fenced writers").
TRANSACTIONAL = (
    "written in Kafka transactions (one transactional id per category partition): read with "
    "isolation.level=read_committed, so a fenced-off worker's aborted records are never seen"
)
#: Every topic with the payload it carries and who writes it.
CATALOGUE: tuple[tuple[TopicSpec, type[BaseModel], str, str], ...] = (
    *((source.topic, source.event, "poller", "key: model type (image|text)") for source in HORDE_SOURCES),
    (HORDE_SOURCE_HEALTH, SourceHealthReported, "poller", "key: model type"),
    (REFERENCE_CHANGED, ReferenceCategoryChanged, "reference-watcher", "key: category"),
    (RISK_CHANGED, DeletionRiskChanged, "analytics", f"key: category/model; {TRANSACTIONAL}"),
    (
        RISK_CURRENT,
        DeletionRiskCurrent,
        "analytics",
        f"key: category/model; null value = removed; {TRANSACTIONAL}",
    ),
    (STYLES_CHANGED, StylesChanged, "reference-watcher", "key: styles (partition of image_generation)"),
    (REFERENCE_SOURCE_HEALTH, ReferenceSourceHealthReported, "reference-watcher", "key: category"),
    (HISTORY_DAILY, CategoryDay, "analytics", "key: category/day (UTC); null value = day out of retention"),
)

HEADERS_NOTE = (
    "CloudEvents 1.0 attributes travel as Kafka headers (binary mode): ce_specversion, ce_id, "
    "ce_source, ce_type, ce_time, ce_subject, content-type. Every event about a category is on "
    f"the same partition number of every topic; the partition is {PARTITION_RULE}. "
    "Records of the poller and the reference watcher also carry hma_leader_token, the fencing "
    "token of the publishing leader's term (a "
    "consumer may drop a record whose token is lower than one it has seen); with tracing on, "
    "records carry the W3C traceparent and tracestate headers."
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
                f"Records of {spec.name} that a consumer could not process, value unchanged, with "
                "every original header (CloudEvents ce_*, content-type, trace and leader headers; "
                f"a value that is not UTF-8 base64-encoded and named in {BASE64_HEADER}); "
                f"the reason is in the headers {', '.join(HEADER_NAMES)}. A value too large to "
                f"publish keeps its first {TRUNCATED_BYTES} bytes, with the headers "
                f"{', '.join(TRUNCATION_HEADER_NAMES)}."
            ),
        )
    document = AsyncAPI(broker, title="Horde Model Analytics events", version="1", schema_version="3.0.0")
    return dict(document.to_specification().to_jsonable())


def main() -> None:
    print(json.dumps(build_document(), indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
