"""Every Kafka topic, its key and partitioning rule, and its retention policy: defined once.

Naming: ``<producer-domain>.<entity>.<past-tense-event>.v<major>``; one payload schema per topic.
All topics have the same partition count and every event about a category goes to the same
partition number on every topic, so the range assignor gives one analytics worker all the
inputs of a category (see ``partition_for``).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, replace
from typing import SupportsIndex

from shared.domain.categories import CATEGORY_OF_MODEL_TYPE, HordeModelType, ModelCategory


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic with the configs we create it with."""

    name: str
    compacted: bool
    description: str
    retention_ms: int = 7 * 24 * 3600 * 1000

    def with_prefix(self, prefix: str) -> TopicSpec:
        """The same topic under a deployment/test prefix (``KafkaSettings.topic_prefix``)."""
        return replace(self, name=prefix + self.name) if prefix else self

    @property
    def dead_letter(self) -> str:
        """Name of the dead-letter topic for records of this topic that could not be processed."""
        return f"{self.name}.dlq"


HORDE_STATUS_CAPTURED = TopicSpec(
    "horde.model-status.captured.v1",
    compacted=True,
    description="Latest validated /v2/status/models payload per model type (published on change).",
)
HORDE_STATS_CAPTURED = TopicSpec(
    "horde.model-stats.captured.v1",
    compacted=True,
    description="Latest validated /v2/stats/{img,text}/models payload per model type (published on change).",
)
HORDE_WORKERS_CAPTURED = TopicSpec(
    "horde.workers.captured.v1",
    compacted=True,
    description="Latest validated /v2/workers payload per model type (published on change).",
)
HORDE_SOURCE_HEALTH = TopicSpec(
    "horde.source-health.reported.v1",
    compacted=False,
    description="Poll outcomes: failures, rate-limit headroom, last success per endpoint.",
)
REFERENCE_CHANGED = TopicSpec(
    "reference.category.changed.v1",
    compacted=True,
    description="Per-category reference change with the full current state (latest record per category).",
)
STYLES_CHANGED = TopicSpec(
    "reference.styles.changed.v1",
    compacted=True,
    description="The AI Horde styles (style -> image model, style categories) in force, on change (one key).",
)
REFERENCE_SOURCE_HEALTH = TopicSpec(
    "reference.source-health.reported.v1",
    compacted=True,
    description="Reference poll outcomes per category: failures, last success, the version the source shows.",
)
RISK_CHANGED = TopicSpec(
    "analytics.deletion-risk.changed.v1",
    compacted=False,
    description="History of per-model deletion-risk changes (previous and current state).",
)
RISK_CURRENT = TopicSpec(
    "analytics.deletion-risk.current.v1",
    compacted=True,
    description="Current deletion-risk state per model, keyed category/model (compacted).",
)

HISTORY_DAILY = TopicSpec(
    "analytics.history.daily.v1",
    compacted=True,
    description=(
        "Daily roll-up per category and UTC day (per model: usage, workers, threads, queue, end-of-day "
        "risk; reference events), republished as the day's captures arrive; keyed category/day (compacted)."
    ),
)

#: Topics the analytics workers consume.
ANALYTICS_INPUTS: tuple[TopicSpec, ...] = (
    REFERENCE_CHANGED,
    HORDE_STATUS_CAPTURED,
    HORDE_STATS_CAPTURED,
    HORDE_WORKERS_CAPTURED,
    STYLES_CHANGED,
    REFERENCE_SOURCE_HEALTH,
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    HORDE_STATUS_CAPTURED,
    HORDE_STATS_CAPTURED,
    HORDE_WORKERS_CAPTURED,
    HORDE_SOURCE_HEALTH,
    REFERENCE_CHANGED,
    RISK_CHANGED,
    RISK_CURRENT,
    STYLES_CHANGED,
    REFERENCE_SOURCE_HEALTH,
    HISTORY_DAILY,
)

_STATIC_CATEGORIES = [
    c for c in ModelCategory if c not in (ModelCategory.IMAGE_GENERATION, ModelCategory.TEXT_GENERATION)
]


#: The partition rule in words, as the event contract states it (docs/reference-events.md and the
#: AsyncAPI document are generated from / checked against this text and ``partition_for``).
PARTITION_RULE = (
    "explicit, not the key hash: image_generation goes to partition 0, text_generation to "
    "partitions // 2 (integer division), and every other category to (n + 1) % partitions, "
    "where n is its 0-based position in ModelCategory declaration order with image_generation "
    "and text_generation left out (blip is n = 0, ti is n = 12); partitions is the topic's current "
    "partition count in the broker's metadata, and the category of a record is the first "
    "/-separated part of its key (a model type, image or text, stands for its generation category; "
    "the styles key for image_generation), so a consumer recomputes every record's partition for "
    "any partition count"
)

#: Key of the styles record (``shared.events.styles.STYLES_KEY``): it lives with image generation.
_STYLES_KEY = "styles"


def partition_for(category: ModelCategory, partitions: SupportsIndex) -> int:
    """Partition of every event about ``category`` on every topic.

    The two heavy categories go to partitions 0 and ``partitions // 2``: the range assignor gives
    each member a contiguous block of partitions, so with two or more analytics replicas image and
    text generation are recomputed by different replicas. The light categories fill the rest.
    ``partitions`` may be a live count (``shared.kafka.LivePartitionCount``) that follows the broker.
    """
    partitions = operator.index(partitions)
    if category is ModelCategory.IMAGE_GENERATION:
        return 0
    if category is ModelCategory.TEXT_GENERATION:
        return partitions // 2
    return (_STATIC_CATEGORIES.index(category) + 1) % partitions


def partition_for_model_type(model_type: HordeModelType, partitions: SupportsIndex) -> int:
    """Partition of a Horde snapshot: the partition of the category it feeds."""
    return partition_for(CATEGORY_OF_MODEL_TYPE[model_type], partitions)


def category_of_key(key: bytes | None) -> ModelCategory | None:
    """The category a record key belongs to (``None``: not one of our keys).

    Every key starts with its category (``image_generation``, ``lora/<model>``,
    ``text_generation/<day>``), a Horde model type (``image``, ``text``) or the styles key, so the
    partition of any record follows from its key and the partition count (``placed``).
    """
    if not key:
        return None
    first = key.split(b"/", 1)[0].decode("utf-8", "replace")
    if first == _STYLES_KEY:
        return ModelCategory.IMAGE_GENERATION
    if first in CATEGORY_OF_MODEL_TYPE:
        return CATEGORY_OF_MODEL_TYPE[first]
    try:
        return ModelCategory(first)
    except ValueError:
        return None


def partition_of_key(key: bytes | None, partitions: SupportsIndex) -> int | None:
    """Where the record with ``key`` belongs for ``partitions`` (``None``: a key of no category)."""
    category = category_of_key(key)
    return None if category is None else partition_for(category, partitions)


def misplaced(key: bytes | None, partition: int, partitions: SupportsIndex) -> bool:
    """A record left on a partition its category no longer maps to (the count grew since it was
    written): consumers skip it; ``shared.repartition`` copies it to its partition."""
    wanted = partition_of_key(key, partitions)
    return wanted is not None and wanted != partition


def categories_of_partition(partition: int, partitions: SupportsIndex) -> list[ModelCategory]:
    """The categories whose events live on ``partition``."""
    return [c for c in ModelCategory if partition_for(c, partitions) == partition]


def partition_table(counts: tuple[int, ...] = (1, 2, 3, 4, 6, 8)) -> str:
    """A markdown table of every category's partition for some partition counts (for the docs)."""
    header = "| Category | " + " | ".join(f"partitions = {n}" for n in counts) + " |"
    rule = "| --- |" + " --- |" * len(counts)
    cells = {c: " | ".join(str(partition_for(c, n)) for n in counts) for c in ModelCategory}
    rows = [f"| `{c.value}` | {cells[c]} |" for c in ModelCategory]
    return "\n".join([header, rule, *rows]) + "\n"


if __name__ == "__main__":  # python -m shared.topics: the table in docs/reference-events.md
    print(partition_table(), end="")
