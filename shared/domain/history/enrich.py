"""Put the lifecycle fields on deletion-risk entries, and apply the grace period to their flags.

Called by a recompute with the worker's :class:`LifecycleContext` (the history as summaries and
today's roll-up so far), before the risk views are built, so every row, listing, summary and CSV
of the generation sees the same lifecycle and graced flags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from shared.domain.categories import ModelCategory
from shared.domain.history.policy import USAGE_FLAG_NAMES, LifecyclePolicy, without_usage_flags
from shared.domain.history.reference_events import FirstSeen
from shared.domain.history.rollup import ModelDay
from shared.domain.history.summary import PastSummary, lifecycle_of
from shared.domain.risk.flags import risk_verdict
from shared.domain.risk.models import ModelDeletionRiskInfo
from shared.domain.risk.thresholds import RiskThresholds
from shared.domain.trusted import copy_trusted


@dataclass(frozen=True)
class LifecycleContext:
    """What the lifecycle of a category's entries is computed from, as of ``today`` (UTC)."""

    category: ModelCategory
    today: date
    policy: LifecyclePolicy
    summaries: Mapping[str, PastSummary] = field(default_factory=dict)
    today_days: Mapping[str, ModelDay] = field(default_factory=dict)
    first_seen: Mapping[str, FirstSeen] = field(default_factory=dict)


_EMPTY = PastSummary()


def _in_grace(seen: FirstSeen | None, today: date, policy: LifecyclePolicy) -> bool:
    if seen is None or seen.source == "watcher_initial":
        return False
    return (today - seen.at.date()).days < policy.grace_period_days


def enrich(
    entries: Sequence[ModelDeletionRiskInfo], context: LifecycleContext, thresholds: RiskThresholds
) -> list[ModelDeletionRiskInfo]:
    """Each entry with its ``lifecycle``; a model in its grace period loses its usage flags first."""
    category, policy, today = context.category, context.policy, context.today
    low = thresholds.low_usage_threshold_for(category)
    out: list[ModelDeletionRiskInfo] = []
    summaries, today_days = context.summaries, context.today_days
    preferred = thresholds.preferred_file_hosts
    for entry in entries:
        name = entry.name
        seen = context.first_seen.get(name)
        update: dict[str, object] = {}
        flags = entry.deletion_risk_flags
        if _in_grace(seen, today, policy) and any(getattr(flags, f) for f in USAGE_FLAG_NAMES):
            graced = without_usage_flags(flags)
            verdict = risk_verdict(
                category,
                graced,
                usage_month=entry.usage_month,
                worker_count=entry.worker_count,
                thresholds=thresholds,
            )
            update = {
                "deletion_risk_flags": graced,
                "at_risk": verdict.at_risk,
                "risk_score": verdict.risk_score,
                "is_critical": verdict.is_critical,
                "has_warning": verdict.has_warning,
            }
            entry = copy_trusted(entry, update)
        held = today_days.get(name)
        # Today is this capture alone (its workers, usage and total) unless a roll-up is given:
        # the recorder passes none, so a generation's lifecycle depends on its inputs and the
        # completed days only, and recomputing it (restart, Redis loss) gives the same bytes.
        today_facts = (
            (held.workers_max, held.usage_day_reported, held.total_last)
            if held is not None
            else (entry.worker_count, entry.usage_day, entry.usage_total)
        )
        fields = lifecycle_of(
            entry, summaries.get(name, _EMPTY), today_facts, first_seen=seen, today=today,
            policy=policy, low_usage_threshold=low, preferred_hosts=preferred,
        )  # fmt: skip
        out.append(copy_trusted(entry, {"lifecycle": fields}))
    return out
