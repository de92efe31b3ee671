"""One human sentence per flag and lifecycle fact, each with its evidence."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from shared.domain.history.fields import LifecycleFields
from shared.domain.history.lifecycle import gaps_within
from shared.domain.history.policy import LifecyclePolicy
from shared.domain.risk.models import ModelDeletionRiskInfo


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def _with_gaps(sentence: str, fields: LifecycleFields, since: date, today: date) -> str:
    if not fields.gaps:
        return sentence
    notes = gaps_within(fields, since, today)
    return f"{sentence} ({'; '.join(notes)})" if notes else sentence


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def reasons_for(
    info: ModelDeletionRiskInfo,
    fields: LifecycleFields,
    *,
    today: date,
    policy: LifecyclePolicy,
    protection: str | None,
    low_usage_threshold: float,
    preferred_hosts: Sequence[str],
) -> list[str]:
    """Sentences in flag order, then grace, protection and candidacy."""
    flags = info.deletion_risk_flags
    out: list[str] = []
    last_used = f"last used on {fields.last_used_on}" if fields.last_used_on else "no use within its history"
    if flags.zero_usage_day:
        out.append(f"not used in the past day (day usage 0); {last_used}")
    if flags.zero_usage_month:
        out.append(f"not used in the past 30 days (month usage 0); {last_used}")
    if flags.zero_usage_total:
        out.append("never used (total usage 0)")
    if flags.no_active_workers:
        since = fields.zero_workers_since or today
        days = (today - since).days
        sentence = (
            f"no worker has served it for {_days(days)}, since {since}"
            if days > 0
            else f"no worker serves it (none since {since}, no earlier day without workers in its history)"
        )
        out.append(_with_gaps(sentence, fields, since, today))
    if flags.has_multiple_hosts:
        out.append(f"downloads from {len(info.download_hosts)} hosts: {', '.join(info.download_hosts)}")
    if flags.has_non_preferred_host:
        out.append(
            f"no download from a preferred host ({', '.join(preferred_hosts) or 'none configured'}); "
            f"hosts: {', '.join(info.download_hosts)}"
        )
    if flags.has_unknown_host:
        out.append("a download URL has no usable host")
    if flags.no_download_urls:
        out.append("has no download URL")
    if flags.missing_description:
        out.append("has no description")
    if flags.missing_baseline:
        out.append("has no baseline")
    if flags.low_usage:
        out.append(
            f"used {_times(info.usage_month)} this month, "
            f"{info.usage_percentage_of_category:.4f}% of the category, threshold {low_usage_threshold:g}%"
        )
    if fields.in_grace_period and fields.first_seen_at is not None:
        out.append(
            f"in its grace period: first seen {fields.first_seen_at.date()} "
            f"({_days(fields.age_days or 0)} ago, grace {_days(policy.grace_period_days)}); "
            "usage flags are not applied"
        )
    if protection is not None:
        out.append(f"protected ({protection}): never a deletion candidate")
    if fields.at_risk_since is not None and fields.days_at_risk > 0:
        out.append(
            _with_gaps(
                f"at risk for {_days(fields.days_at_risk)}, since {fields.at_risk_since}",
                fields,
                fields.at_risk_since,
                today,
            )
        )
    if fields.deletion_candidate:
        out.append(
            f"a deletion candidate: at risk at the end of every day with data for at least "
            f"{_days(policy.min_days_at_risk)}"
        )
    return out
