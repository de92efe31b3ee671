"""UTC days and gaps: a day without any capture is unknown, never zero."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

ONE_DAY = timedelta(days=1)


def utc_day(moment: datetime) -> date:
    """The UTC calendar day of an aware ``moment`` (naive datetimes are refused: ambiguous)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: history days are UTC, pass an aware datetime")
    return moment.astimezone(UTC).date()


def day_range(first: date, last: date) -> list[date]:
    """Every day from ``first`` to ``last`` inclusive (empty when ``last`` is before ``first``)."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def gaps(covered: Iterable[date], first: date, last: date) -> list[tuple[date, date]]:
    """Maximal runs of days in ``first..last`` that are not in ``covered``, as inclusive ranges."""
    have = set(covered)
    runs: list[tuple[date, date]] = []
    start: date | None = None
    for day in day_range(first, last):
        if day in have:
            if start is not None:
                runs.append((start, day - ONE_DAY))
                start = None
        elif start is None:
            start = day
    if start is not None:
        runs.append((start, last))
    return runs


def describe_gap(gap: tuple[date, date]) -> str:
    """``no data 2026-11-03 to 2026-11-05`` (or ``no data 2026-11-03`` for one day)."""
    first, last = gap
    return f"no data {first.isoformat()}" if first == last else f"no data {first} to {last}"
