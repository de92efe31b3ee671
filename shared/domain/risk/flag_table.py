"""The deletion-risk flags, one row each: the single table the domain's flag lists derive from.

Adding a flag is one row here, its field on ``DeletionRiskFlags`` (typed, same order; checked at
import), the rule that sets it (``flags.py``), and, if it has a summary counter, that field on
``CategoryDeletionRiskSummary``. Serialisation order, ``risk_score``, the host-issue warning, the
flag-defined presets, the summary counters and the materialised summary rows all follow from here.
Every such change alters the view layout, so it also bumps ``VIEW_SCHEMA_VERSION``
(``tests/unit/domain/test_view_layout.py`` fails until it does).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

FlagKind = Literal["usage", "workers", "download", "data"]


class RiskFlag(NamedTuple):
    """One deletion-risk flag.

    ``presets`` are the presets whose membership this flag decides (``deletion_candidates`` holds
    every flagged model through ``at_risk``; ``zero_usage``, ``no_workers`` and ``critical`` are
    defined on the numbers and verdicts, not on flags). ``summary_counter`` is the field of
    ``CategoryDeletionRiskSummary`` that counts it, or ``None`` (upstream §4.5 counts 8 of 11).
    """

    name: str
    kind: FlagKind
    presets: tuple[str, ...]
    summary_counter: str | None
    description: str


#: Every flag, in the serialisation order of upstream §3.7.
RISK_FLAGS: tuple[RiskFlag, ...] = (
    RiskFlag("zero_usage_day", "usage", (), "models_with_zero_day_usage", "No use in the past day."),
    RiskFlag("zero_usage_month", "usage", (), "models_with_zero_month_usage", "No use in the past month."),
    RiskFlag("zero_usage_total", "usage", (), "models_with_zero_total_usage", "Never used."),
    RiskFlag("no_active_workers", "workers", (), "models_with_no_active_workers", "No worker serves it now."),
    RiskFlag(
        "has_multiple_hosts", "download", ("host_issues",), "models_with_multiple_hosts",
        "Its download URLs are on more than one host.",
    ),
    RiskFlag(
        "has_non_preferred_host", "download", ("host_issues",), "models_with_non_preferred_hosts",
        "None of its download hosts is a preferred file host.",
    ),
    RiskFlag(
        "has_unknown_host", "download", ("host_issues",), None,
        "A download URL has no usable scheme or host.",
    ),
    RiskFlag(
        "no_download_urls", "download", ("host_issues",), "models_with_no_downloads", "No download URL.",
    ),
    RiskFlag("missing_description", "data", ("missing_data",), None, "No description text."),
    RiskFlag("missing_baseline", "data", ("missing_data",), None, "No baseline (image and text only)."),
    RiskFlag(
        "low_usage", "usage", ("low_usage",), "models_with_low_usage",
        "Monthly usage below the low-usage share of the category's monthly usage.",
    ),
)  # fmt: skip

#: Flag names in serialisation order.
FLAG_NAMES: tuple[str, ...] = tuple(flag.name for flag in RISK_FLAGS)
#: Flags any of which gives a model ``has_warning`` (the download-host problems).
WARNING_FLAGS: tuple[str, ...] = tuple(flag.name for flag in RISK_FLAGS if flag.kind == "download")
#: Summary counter field → the flag it counts, in table order.
FLAG_COUNTERS: dict[str, str] = {f.summary_counter: f.name for f in RISK_FLAGS if f.summary_counter}


def preset_flags(preset: str) -> tuple[str, ...]:
    """The flags whose being set puts a model in ``preset`` (empty: the preset is not flag-defined)."""
    return tuple(flag.name for flag in RISK_FLAGS if preset in flag.presets)
