"""Objects built without validation (``shared.domain.trusted``) are exactly what validation builds.

The recompute builds its result models with ``build_trusted``/``copy_trusted``. Here every model of
every view (and the records of grouped statistics) is rebuilt from plain data through full
validation, model validators included, and compared strictly: same field order, same types
(``1`` is not ``1.0``, a tuple is not a list), same values.
"""

from __future__ import annotations

import gc
from enum import Enum
from itertools import pairwise
from typing import Any

import pytest
from pydantic import BaseModel

from bench.synthetic import load_reference, load_snapshot, scale_reference, scale_snapshot
from shared.collector import collector_paused
from shared.domain.categories import ModelCategory
from shared.domain.reference.records import ReferenceRecord
from shared.domain.risk.flags import combine_flags, download_flags, usage_flags
from shared.domain.risk.models import DeletionRiskFlags, ModelDeletionRiskInfo
from shared.domain.risk.summary import flag_totals
from shared.domain.risk.thresholds import RiskThresholds
from shared.domain.statistics import PARAMETER_BUCKETS, group_records_for_statistics
from shared.domain.text_names import group_key
from shared.domain.trusted import build_trusted, copy_trusted
from shared.domain.views import build_category_views

THRESHOLDS = RiskThresholds()
CATEGORIES = [ModelCategory.IMAGE_GENERATION, ModelCategory.TEXT_GENERATION]


def _plain(value: Any) -> Any:
    """Field values with every nested model turned into a dict of its fields (nothing validated)."""
    if isinstance(value, BaseModel):
        return {name: _plain(item) for name, item in value.__dict__.items()}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return type(value)(_plain(item) for item in value)
    return value


def _assert_same(built: Any, validated: Any, path: str) -> None:
    assert type(built) is type(validated), f"{path}: {type(built).__name__} vs {type(validated).__name__}"
    if isinstance(built, BaseModel):
        assert list(built.__dict__) == list(type(built).model_fields), f"{path}: field order"
        for name in type(built).model_fields:
            _assert_same(built.__dict__[name], validated.__dict__[name], f"{path}.{name}")
    elif isinstance(built, dict):
        assert list(built) == list(validated), f"{path}: keys"
        for key in built:
            _assert_same(built[key], validated[key], f"{path}[{key!r}]")
    elif isinstance(built, tuple | list):
        assert len(built) == len(validated), f"{path}: length"
        for i, (a, b) in enumerate(zip(built, validated, strict=True)):
            _assert_same(a, b, f"{path}[{i}]")
    elif isinstance(built, Enum) or built is None:
        assert built is validated, path
    else:
        assert built == validated, path


def assert_like_validated(model: BaseModel, path: str) -> None:
    validated = type(model).model_validate(_plain(model))
    _assert_same(model, validated, path)
    assert type(model).__pydantic_serializer__.to_json(model) == validated.model_dump_json().encode(), path


@pytest.mark.parametrize("category", CATEGORIES)
@pytest.mark.parametrize("scale", [1, 2])
def test_every_view_model_equals_its_validated_twin(category: ModelCategory, scale: int) -> None:
    reference = scale_reference(load_reference(category), scale)
    views = build_category_views(
        reference, scale_snapshot(load_snapshot(category), scale), THRESHOLDS, computed_at=1
    )
    assert views.runtime is not None
    for flags, entries in views.runtime.with_stats.items():
        for name, entry in entries.items():
            assert_like_validated(entry, f"with_stats{flags}[{name!r}]")
    for flags, response in views.runtime.risk.items():
        assert_like_validated(response, f"risk{flags}")  # entries included: score validator runs
        assert views.runtime.risk_models[flags] == response.models
    assert_like_validated(views.statistics, "statistics")
    assert_like_validated(views.statistics_grouped, "statistics.grouped")


def test_grouped_statistics_records_equal_validated_copies() -> None:
    records = load_reference(ModelCategory.TEXT_GENERATION).records
    for record in group_records_for_statistics(records, group_key):
        data = {**record.__dict__}
        assert_like_validated(record, record.name)
        assert record == ReferenceRecord.model_validate(data)


def test_build_trusted_takes_the_values_as_given_and_copy_trusted_replaces_some() -> None:
    values = {name: False for name in DeletionRiskFlags.model_fields}
    flags = build_trusted(DeletionRiskFlags, {**values, "low_usage": True})
    assert flags == DeletionRiskFlags(low_usage=True)
    copied = copy_trusted(flags, {"zero_usage_day": True})
    assert copied == DeletionRiskFlags(low_usage=True, zero_usage_day=True)
    assert flags.zero_usage_day is False  # the original is untouched
    with pytest.raises(ValueError, match="frozen"):
        copied.low_usage = False  # type: ignore[misc]


def test_trusted_instances_share_their_fields_set_safely_and_only_frozen_models_qualify() -> None:
    flags = build_trusted(DeletionRiskFlags, dict.fromkeys(DeletionRiskFlags.model_fields, False))
    other = copy_trusted(flags, {"low_usage": True})
    assert flags.model_fields_set is other.model_fields_set
    validated_copy = flags.model_copy(update={"low_usage": True})  # pydantic copies the set first
    assert validated_copy.model_fields_set is not flags.model_fields_set
    assert flags.model_fields_set == set(DeletionRiskFlags.model_fields)

    class Mutable(BaseModel):
        value: int = 0

    with pytest.raises(TypeError, match="not frozen"):
        build_trusted(Mutable, {"value": 1})


def test_flag_sets_are_interned_and_totals_count_distinct_objects_too() -> None:
    category = ModelCategory.IMAGE_GENERATION
    usage = usage_flags(
        usage_day=0,
        usage_month=0,
        usage_total=0,
        worker_count=0,
        category_total_month_usage=0,
        low_usage_threshold=1.0,
    )
    downloads = download_flags((), category, THRESHOLDS)
    first = combine_flags(usage, downloads, missing_description=True, missing_baseline=False)
    again = combine_flags(usage, downloads, missing_description=True, missing_baseline=False)
    assert first is again
    separate = DeletionRiskFlags(**first.model_dump())  # an equal flags object built elsewhere
    models = [
        ModelDeletionRiskInfo(
            name=name, category=category, deletion_risk_flags=flags, at_risk=True, risk_score=6
        )
        for name, flags in (("a", first), ("b", again), ("c", separate))
    ]
    totals = flag_totals(models)
    assert totals == {name: 3 if value else 0 for name, value in first.model_dump().items()}


def test_parameter_buckets_are_contiguous_for_bisection() -> None:
    assert PARAMETER_BUCKETS[0][1] == 0
    for (_, _, high), (_, low, _) in pairwise(PARAMETER_BUCKETS):
        assert high == low
    assert PARAMETER_BUCKETS[-1][2] is None


def test_collector_pause_nests_and_restores_the_previous_state() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # stays as the caller left it
    finally:
        gc.enable()
