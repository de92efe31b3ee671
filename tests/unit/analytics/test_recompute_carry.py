"""A recompute that reuses the previous generation's rows, orders and deflates (``Carry``, issue 15)
stores exactly the bytes of a recompute from scratch, in the same order, whatever changed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from bench.gateway_fill import category_inputs
from services.analytics.recompute import Carry, compute_views, finish
from services.analytics.state import CategoryInputs
from shared.domain.categories import ModelCategory
from shared.domain.risk.thresholds import RiskThresholds
from shared.domain.views import render_views

COMPUTED_AT = 1_782_000_000
THRESHOLDS = RiskThresholds()


def _status_counts(inputs: CategoryInputs, step: int) -> CategoryInputs:
    """One model's thread count moves (what most AI Horde snapshots change)."""
    assert inputs.status is not None
    entries = list(inputs.status.entries)
    entries[step % len(entries)] = entries[step % len(entries)].model_copy(update={"count": 900 + step})
    status = inputs.status.model_copy(update={"entries": tuple(entries), "content_hash": f"status-{step}"})
    return replace(inputs, status=status)


def _no_workers(inputs: CategoryInputs, step: int) -> CategoryInputs:
    """Every status entry at zero: most rows, orders and presets change at once."""
    assert inputs.status is not None
    entries = tuple(e.model_copy(update={"count": 0}) for e in inputs.status.entries)
    return replace(
        inputs, status=inputs.status.model_copy(update={"entries": entries, "content_hash": "zero"})
    )


def _fewer_models(inputs: CategoryInputs, step: int) -> CategoryInputs:
    """The reference loses models: rows disappear and every row index moves."""
    assert inputs.reference is not None
    records = inputs.reference.records[: len(inputs.reference.records) // 2]
    reference = inputs.reference.model_copy(update={"records": records, "version": f"half-{step}"})
    return replace(inputs, reference=reference)


def _generations(
    category: ModelCategory, changes: list[Callable[[CategoryInputs, int], CategoryInputs]]
) -> list[tuple[CategoryInputs, RiskThresholds]]:
    inputs = category_inputs(category)
    steps = [(inputs, THRESHOLDS)]
    for step, change in enumerate(changes, start=1):
        inputs = change(inputs, step)
        steps.append((inputs, THRESHOLDS))
    return steps


@pytest.mark.parametrize("category", [ModelCategory.TEXT_GENERATION, ModelCategory.IMAGE_GENERATION])
def test_carried_recompute_stores_the_same_bytes_as_a_fresh_one(category: ModelCategory) -> None:
    changes = [_status_counts, _status_counts, lambda i, s: i, _no_workers, _status_counts, _fewer_models]
    carry = Carry()
    for inputs, thresholds in _generations(category, changes):
        computed = compute_views(category, inputs, thresholds, computed_at=COMPUTED_AT)
        assert computed is not None
        carried, fresh = finish(computed, carry), finish(computed)
        assert list(carried.views) == list(fresh.views)
        assert carried.views == fresh.views


def test_carry_is_dropped_when_the_thresholds_change() -> None:
    """Presets read the thresholds: rows of other thresholds are never reused."""
    category = ModelCategory.TEXT_GENERATION
    inputs = category_inputs(category)
    carry = Carry()
    strict = RiskThresholds(text_gen_low_usage_threshold_percentage=5.0, low_usage_threshold_percentage=5.0)
    for thresholds in (THRESHOLDS, strict, THRESHOLDS):
        computed = compute_views(category, inputs, thresholds, computed_at=COMPUTED_AT)
        assert computed is not None
        assert finish(computed, carry).views == finish(computed).views


def test_carry_reuses_rows_of_unchanged_models() -> None:
    """The point of the carry: after a one-model change nearly every row comes from it."""
    category = ModelCategory.TEXT_GENERATION
    carry = Carry()
    (first, _), (second, _) = _generations(category, [_status_counts])
    for inputs in (first, second):
        computed = compute_views(category, inputs, THRESHOLDS, computed_at=COMPUTED_AT)
        assert computed is not None
        before = dict(carry.risk.rows)
        finish(computed, carry)
    reused = sum(1 for fragment, row in carry.risk.rows.items() if before.get(fragment) is row)
    assert reused >= 0.95 * len(carry.risk.rows)


ODD_NAMES = ('quote " and \\ backslash', "tab\tand\nnewline", "accents é ü and \u2028 separator", "ctrl \x01")


def _odd_names(inputs: CategoryInputs, step: int) -> CategoryInputs:
    """Names JSON must escape (quotes, backslashes, control characters) or keep (non-ASCII)."""
    assert inputs.reference is not None
    records = list(inputs.reference.records)
    for i, odd in enumerate(ODD_NAMES):
        records[i] = records[i].model_copy(update={"name": odd})
    reference = inputs.reference.model_copy(update={"records": tuple(records), "version": "odd"})
    return replace(inputs, reference=reference)


@pytest.mark.parametrize("category", [ModelCategory.TEXT_GENERATION, ModelCategory.IMAGE_GENERATION])
def test_listing_bodies_joined_from_row_fragments_are_the_rendered_views(category: ModelCategory) -> None:
    """The with-stats and risk bodies are joined from the index rows; they must be exactly what
    serialising each view whole gives, names that need escaping included."""
    inputs = _odd_names(category_inputs(category), 0)
    computed = compute_views(category, inputs, THRESHOLDS, computed_at=COMPUTED_AT)
    assert computed is not None
    rendered = render_views(computed.views)
    stored = finish(computed, Carry()).views
    assert any(odd.split()[0] in body.decode() for odd in ODD_NAMES for body in rendered.values())
    assert {view: stored[view] for view in rendered} == rendered
