"""The deletion-risk view layout cannot change without a view schema version bump (issue 15).

A 12th risk flag, a new summary counter or a new field on the risk rows (e.g. lifecycle fields)
changes what readers of the materialised views see; ``VIEW_SCHEMA_VERSION`` is what tells them.
"""

from __future__ import annotations

import copy
import json

from shared.domain.risk.flag_table import FLAG_COUNTERS, FLAG_NAMES, RISK_FLAGS, WARNING_FLAGS
from shared.domain.risk.models import CategoryDeletionRiskSummary, DeletionRiskFlags
from shared.domain.risk.presets import VALID_PRESETS
from tests.golden.layout import GOLDEN, change_error, layout


def test_the_risk_view_layout_is_the_pinned_one() -> None:
    assert change_error(json.loads(GOLDEN.read_text()), layout()) is None


def test_a_new_flag_without_a_version_bump_fails() -> None:
    pinned = layout()
    current = copy.deepcopy(pinned)
    current["risk_row"].append("deletion_risk_flags.twelfth_flag")
    error = change_error(pinned, current)
    assert error is not None
    assert "bump VIEW_SCHEMA_VERSION" in error
    current["view_schema_version"] += 1
    error = change_error(pinned, current)
    assert error is not None
    assert error.startswith("schema version bumped")


def test_a_new_summary_counter_in_the_listing_rows_needs_a_bump() -> None:
    pinned = layout()
    current = copy.deepcopy(pinned)
    current["risk_summary_row"].insert(-1, "models_with_twelfth_flag")
    error = change_error(pinned, current)
    assert error is not None
    assert "bump VIEW_SCHEMA_VERSION or RiskListingIndex.schema_version" in error


def test_the_flag_table_is_consistent_with_the_models() -> None:
    assert tuple(DeletionRiskFlags.model_fields) == FLAG_NAMES
    assert len(set(FLAG_NAMES)) == len(RISK_FLAGS) == 11
    assert set(FLAG_COUNTERS) <= set(CategoryDeletionRiskSummary.model_fields)
    assert all(set(flag.presets) <= set(VALID_PRESETS) for flag in RISK_FLAGS)
    assert all(flag.description.endswith(".") for flag in RISK_FLAGS)
    assert WARNING_FLAGS == (
        "has_multiple_hosts",
        "has_non_preferred_host",
        "has_unknown_host",
        "no_download_urls",
    )
