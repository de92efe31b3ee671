"""The daily roll-up record of ``analytics.history.daily.v1`` (key ``category/day``, compacted).

The payload is the domain's :class:`~shared.domain.history.rollup.CategoryDay` (schema version in
``schema_version``); a tombstone (null value) removes a day that fell out of retention.
"""

from __future__ import annotations

from pydantic import ValidationError

from shared.domain.history.rollup import ROLLUP_SCHEMA_VERSION, CategoryDay

__all__ = ["ROLLUP_SCHEMA_VERSION", "CategoryDay", "MalformedRollupError", "decode_rollup", "rollup_key"]


class MalformedRollupError(ValueError):
    """A roll-up record that cannot be used: it is dead-lettered with this reason."""


def rollup_key(rollup: CategoryDay) -> tuple[str, str]:
    """The compaction key parts: category and ISO day."""
    return rollup.category.value, rollup.day.isoformat()


def decode_rollup(key: bytes | None, value: bytes | None) -> CategoryDay | None:
    """The roll-up of a record; ``None`` for a tombstone; ``MalformedRollupError`` when unusable."""
    if value is None:
        return None
    try:
        rollup = CategoryDay.model_validate_json(value)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise MalformedRollupError(
            f"invalid CategoryDay: {error.error_count()} error(s), first at {where}: {first['msg']}"
        ) from None
    if rollup.schema_version != ROLLUP_SCHEMA_VERSION:
        raise MalformedRollupError(f"unknown roll-up schema_version {rollup.schema_version}")
    if key is not None and key.decode(errors="replace") != "/".join(rollup_key(rollup)):
        raise MalformedRollupError(f"key {key!r} does not match the roll-up's category/day")
    return rollup
