"""The materialised daily history in Redis, written by the analytics worker, read by the gateway.

Per model one hash (ISO day -> the rendered day point JSON, its usage already the ``total`` delta
from the day before) and one hash of reference events; per category
one hash of day summaries and a ``meta`` hash whose absence means "rebuild me from Kafka". Every
write is an idempotent overwrite of whole fields, so a replay or a rebuild ends in the same keys.

So that a history answer is one lookup, the model hash also holds ``_window`` (the points of the
``WINDOW_DAYS`` completed days before the day being recorded, joined, with each point's length so
a shorter ``days`` is a slice) and ``_events`` (the model's events, joined in answer order), and
the day-summary hash holds the category's ``_window``. Windows are rewritten once per model per
UTC day (when a day starts, and after a rebuild), ``_events`` when the model's events change;
a missing or outdated window only means the reader joins the day fields itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from pydantic import TypeAdapter
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from shared.domain.categories import ModelCategory
from shared.domain.history.days import ONE_DAY, day_range
from shared.domain.history.rollup import CategoryDay, ReferenceEvent
from shared.domain.history.series import CategoryDayPoint, DayPoint, category_series, point_of
from shared.redis_keys import RedisKeys

_EVENTS = TypeAdapter(list[ReferenceEvent])
#: Redis commands per pipeline round trip while rebuilding.
CHUNK = 5000
#: The history routes' default ``days``: the window plus the day being recorded.
DEFAULT_DAYS = 90
#: Completed days held pre-joined per model and for the summary (``days`` up to 90 is a slice).
WINDOW_DAYS = DEFAULT_DAYS - 1
#: Fields of the pre-joined answer parts (a day field is an ISO date, so these never collide).
WINDOW_FIELD = "_window"
EVENTS_FIELD = "_events"
#: Models per pipeline while rewriting windows (each reads ``WINDOW_DAYS`` fields).
WINDOW_CHUNK = 100


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


@dataclass
class WrittenDay:
    """The fields ``write_days`` last wrote for one category's latest day, as the writer keeps them.

    Why: every capture re-folds the whole day, but between two captures only a few models' points
    change (issue 15: rewriting all of them, ~1,900 commands for text on a day with reference
    events, cost ~50 ms of the event loop on the path to the pointer swap). Given one, ``write_days``
    skips a field whose JSON is what it last wrote there. Only valid while Redis holds those writes:
    the recorder drops it whenever it rebuilds or forgets the history, and a Redis that lost the
    history loses the ``built`` mark too, so verification rebuilds it (``HistoryRecorder.verify``).
    """

    day: date | None = None
    #: (hash key, field) → JSON last written there.
    fields: dict[tuple[str, str], str] = field(default_factory=dict)
    meta: tuple[date, date] | None = None

    def forget(self) -> None:
        """Nothing is known to be in Redis any more."""
        self.day, self.fields, self.meta = None, {}, None

    def changed(self, key: str, name: str, value: str) -> bool:
        """Whether ``value`` differs from what was last written to ``key``/``name`` (and note it)."""
        if self.fields.get((key, name)) == value:
            return False
        self.fields[(key, name)] = value
        return True


class HistoryStore:
    """Reads and writes the history keys of one deployment prefix."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys

    # -- writing ---------------------------------------------------------------------------
    async def write_days(
        self,
        rollups: Iterable[CategoryDay],
        *,
        previous: CategoryDay | None = None,
        written: WrittenDay | None = None,
    ) -> int:
        """Write roll-ups in day order (each day's summary needs the day before); returns days written.

        With ``written`` (the caller's record of the latest day of the one category of ``rollups``),
        fields that already hold the same JSON are not sent again; after a failed write it is
        forgotten, so the next write sends every field again."""
        try:
            return await self._write_days(rollups, previous, written)
        except BaseException:
            if written is not None:
                written.forget()  # part of what it notes may never have reached Redis
            raise

    async def _write_days(
        self, rollups: Iterable[CategoryDay], previous: CategoryDay | None, written: WrittenDay | None
    ) -> int:
        pipe = self.redis.pipeline(transaction=False)
        pending = written_days = 0
        meta: dict[ModelCategory, tuple[date, date]] = {}
        with_events: set[tuple[ModelCategory, str]] = set()
        for rollup in rollups:
            category, day = rollup.category, rollup.day.isoformat()
            if written is not None and written.day != rollup.day:
                written.day, written.fields = rollup.day, {}

            def put(key: str, name: str, value: str) -> bool:
                if written is not None and not written.changed(key, name, value):
                    return False
                pipe.hset(key, name, value)
                return True

            before = previous if previous is not None and previous.day == rollup.day - ONE_DAY else None
            before_models = before.models if before is not None and before.has_data else {}
            for name, model_day in rollup.models.items():
                point = point_of(rollup.day, model_day, before_models.get(name), rollup.generated)
                pending += put(self.keys.history_model(category, name), day, point.model_dump_json())
            for event in rollup.reference_events:
                key = self.keys.history_events(category, event.model)
                if put(key, f"{event.version}/{event.kind}", event.model_dump_json()):
                    with_events.add((category, event.model))
                    pending += 1
            days = {rollup.day: rollup} | ({before.day: before} if before is not None else {})
            summary = category_series(days, rollup.day, rollup.day)[0]
            pending += put(self.keys.history_days(category), day, summary.model_dump_json())
            first, last = meta.get(category, (rollup.day, rollup.day))
            meta[category] = (min(first, rollup.day), max(last, rollup.day))
            written_days += 1
            previous = rollup
            if pending >= CHUNK:
                await pipe.execute()
                pending = 0
        for category, (first, last) in meta.items():
            if written is None or written.meta != (first, last):
                await self._extend_meta(pipe, category, first, last)
            if written is not None:
                written.meta = (first, last)
        await pipe.execute()
        await self._join_events(sorted(with_events))
        return written_days

    async def _join_events(self, models: list[tuple[ModelCategory, str]]) -> None:
        """Store each model's events joined in answer order (``_events``), after they changed."""
        for start in range(0, len(models), WINDOW_CHUNK):
            chunk = models[start : start + WINDOW_CHUNK]
            pipe = self.redis.pipeline(transaction=False)
            for category, model in chunk:
                pipe.hvals(self.keys.history_events(category, model))
            held = await pipe.execute()
            pipe = self.redis.pipeline(transaction=False)
            for (category, model), raws in zip(chunk, held, strict=True):
                joined = ",".join(_sorted_events(raws))
                pipe.hset(self.keys.history_model(category, model), EVENTS_FIELD, joined)
            await pipe.execute()

    async def write_windows(self, category: ModelCategory, today: date, models: Iterable[str]) -> None:
        """Pre-join the ``WINDOW_DAYS`` days before ``today`` of ``models`` and of the day summary
        (once per day: those days are complete); other models' windows are outdated and dropped."""
        wanted = sorted(set(models))
        days = day_range(today - WINDOW_DAYS * ONE_DAY, today - ONE_DAY)
        fields = [d.isoformat() for d in days]
        through = days[-1].isoformat()
        for start in range(0, len(wanted), WINDOW_CHUNK):
            chunk = wanted[start : start + WINDOW_CHUNK]
            pipe = self.redis.pipeline(transaction=False)
            for name in chunk:
                pipe.hmget(self.keys.history_model(category, name), fields)
            held = await pipe.execute()
            pipe = self.redis.pipeline(transaction=False)
            for name, raws in zip(chunk, held, strict=True):
                points = [_text(raw) or _gap_json(day) for day, raw in zip(days, raws, strict=True)]
                pipe.hset(self.keys.history_model(category, name), WINDOW_FIELD, _window(through, points))
            await pipe.execute()
        raws = await self.redis.hmget(self.keys.history_days(category), fields)
        summary = [_text(raw) or _gap_summary_json(day) for day, raw in zip(days, raws, strict=True)]
        await self.redis.hset(self.keys.history_days(category), WINDOW_FIELD, _window(through, summary))

    async def drop_windows(self, category: ModelCategory, models: Iterable[str]) -> None:
        """Remove the windows of models no longer given one (no data within the window)."""
        pipe = self.redis.pipeline(transaction=False)
        for name in models:
            pipe.hdel(self.keys.history_model(category, name), WINDOW_FIELD)
        await pipe.execute()

    async def _extend_meta(self, pipe: Pipeline, category: ModelCategory, first: date, last: date) -> None:
        held = await self.redis.hmget(self.keys.history_meta(category), ["first_day", "last_day"])
        old_first, old_last = (_text(v) for v in held)
        first_day = min(first.isoformat(), old_first) if old_first else first.isoformat()
        last_day = max(last.isoformat(), old_last) if old_last else last.isoformat()
        pipe.hset(self.keys.history_meta(category), mapping={"first_day": first_day, "last_day": last_day})

    async def mark_built(self, category: ModelCategory) -> None:
        """Say the category's history is complete (written after a rebuild, even an empty one)."""
        await self.redis.hset(self.keys.history_meta(category), "built", "1")

    async def is_built(self, category: ModelCategory) -> bool:
        return bool(await self.redis.hexists(self.keys.history_meta(category), "built"))

    async def clear(self, category: ModelCategory) -> None:
        """Drop every history key of a category (before a rebuild from Kafka)."""
        batch: list[bytes | str] = []
        async for key in self.redis.scan_iter(match=self.keys.history_pattern(category), count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                await self.redis.unlink(*batch)
                batch = []
        if batch:
            await self.redis.unlink(*batch)

    async def drop_days(self, category: ModelCategory, models: Iterable[str], days: Iterable[date]) -> None:
        """Remove days that fell out of retention."""
        fields = [d.isoformat() for d in days]
        if not fields:
            return
        pipe = self.redis.pipeline(transaction=False)
        for name in models:
            pipe.hdel(self.keys.history_model(category, name), *fields)
        pipe.hdel(self.keys.history_days(category), *fields)
        await pipe.execute()

    # -- reading ---------------------------------------------------------------------------
    async def model_history_json(
        self, category: ModelCategory, model: str, first: date, last: date
    ) -> tuple[list[str], list[str]] | None:
        """The model's day points (JSON, a gap point for a day without data) for ``first..last`` and
        its reference events (JSON, by time); None when the model has no history at all."""
        days = day_range(first, last)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hmget(self.keys.history_model(category, model), [d.isoformat() for d in days])
        pipe.hvals(self.keys.history_events(category, model))
        raws, events_raw = await pipe.execute()
        if (
            not any(raws)
            and not events_raw
            and not await self.redis.exists(self.keys.history_model(category, model))
        ):
            return None
        points = [
            raw.decode() if isinstance(raw, bytes) else raw if raw is not None else _gap_json(day)
            for day, raw in zip(days, raws, strict=True)
        ]
        return points, _sorted_events(events_raw)

    async def model_history_joined(
        self, category: ModelCategory, model: str, days: int, last: date
    ) -> tuple[bytes, bytes] | None:
        """The model's series (joined day points) of the ``days`` days ending ``last`` and its
        joined events from one lookup, when ``days`` fits the window and the window ends the day
        before ``last``; else None (the caller joins the day fields: ``model_history_json``)."""
        if days > DEFAULT_DAYS:
            return None
        held = await self.redis.hmget(
            self.keys.history_model(category, model), [last.isoformat(), WINDOW_FIELD, EVENTS_FIELD]
        )
        today, window, events = (_bytes(v) for v in held)
        sliced = _slice(window, last, days - 1)
        if sliced is None:
            return None
        point = today if today is not None else _gap_json(last).encode()
        return (sliced + b"," + point if sliced else point), events or b""

    async def summary_joined(self, category: ModelCategory, days: int, last: date) -> bytes | None:
        """The category's day summaries of the ``days`` days ending ``last``, joined, from one
        lookup when the window fits (as ``model_history_joined``); else None."""
        if days > DEFAULT_DAYS:
            return None
        held = await self.redis.hmget(self.keys.history_days(category), [last.isoformat(), WINDOW_FIELD])
        today, window = (_bytes(v) for v in held)
        sliced = _slice(window, last, days - 1)
        if sliced is None:
            return None
        point = today if today is not None else _gap_summary_json(last).encode()
        return sliced + b"," + point if sliced else point

    async def model_history(
        self, category: ModelCategory, model: str, first: date, last: date
    ) -> tuple[list[DayPoint], list[ReferenceEvent]] | None:
        """The model's series for ``first..last`` and all its reference events; None: model unknown."""
        found = await self.model_history_json(category, model, first, last)
        if found is None:
            return None
        points, events = found
        return [DayPoint.model_validate_json(p) for p in points], [
            ReferenceEvent.model_validate_json(e) for e in events
        ]

    async def summary_json(self, category: ModelCategory, first: date, last: date) -> list[str]:
        """The category's day summaries (JSON) for ``first..last``, gap points included."""
        days = day_range(first, last)
        raws = await self.redis.hmget(self.keys.history_days(category), [d.isoformat() for d in days])
        return [_text(raw) or _gap_summary_json(day) for day, raw in zip(days, raws, strict=True)]

    async def summary(self, category: ModelCategory, first: date, last: date) -> list[CategoryDayPoint]:
        """The category's day summaries for ``first..last`` (a gap point for a day without data)."""
        fields = [d.isoformat() for d in day_range(first, last)]
        raws = await self.redis.hmget(self.keys.history_days(category), fields)
        return [
            CategoryDayPoint.model_validate_json(raw)
            if raw is not None
            else CategoryDayPoint(day=day, has_data=False)
            for day, raw in zip(day_range(first, last), raws, strict=True)
        ]

    async def points_of_models(
        self, category: ModelCategory, models: Sequence[str], first: date, last: date
    ) -> list[list[str | None]]:
        """Day point JSON of several models for ``first..last`` (``None``: no data that day), in one
        round trip: the review table's sparklines."""
        fields = [d.isoformat() for d in day_range(first, last)]
        pipe = self.redis.pipeline(transaction=False)
        for name in models:
            pipe.hmget(self.keys.history_model(category, name), fields)
        found = await pipe.execute() if models else []
        return [[_text(raw) for raw in values] for values in found]

    async def meta(self, category: ModelCategory) -> Mapping[str, str]:
        raw = await self.redis.hgetall(self.keys.history_meta(category))
        return {_text(k) or "": _text(v) or "" for k, v in raw.items()}


def _gap_json(day: date) -> str:
    return f'{{"day":"{day.isoformat()}","has_data":false{_GAP_TAIL}'


#: The rest of a gap point's JSON (every value null or empty), rendered once.
_GAP_TAIL = DayPoint(day=date(2000, 1, 1), has_data=False).model_dump_json().split('"has_data":false', 1)[1]


def _gap_summary_json(day: date) -> str:
    return CategoryDayPoint(day=day, has_data=False).model_dump_json()


def _event_order(raw: str) -> tuple[str, str, str]:
    event = json.loads(raw)
    return event["at"], event["kind"], raw  # the raw text last: ties in the same order on every path


def _sorted_events(raws: Iterable[bytes | str]) -> list[str]:
    """Events in answer order: by time, then kind."""
    return sorted((_text(raw) or "" for raw in raws), key=_event_order)


def _bytes(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


def _window(through: str, points: list[str]) -> str:
    """``<last day>|<length of each point>|<points joined by commas>`` (the lengths allow slicing)."""
    lengths = ",".join(str(len(p.encode())) for p in points)
    return f"{through}|{lengths}|{','.join(points)}"


def _slice(window: bytes | None, last: date, count: int) -> bytes | None:
    """The last ``count`` points of a window ending the day before ``last`` (None: no such window)."""
    if window is None:
        return None
    through, lengths, joined = window.split(b"|", 2)
    if through != (last - ONE_DAY).isoformat().encode():
        return None
    if count <= 0:
        return b""
    sizes = lengths.split(b",")
    skip = len(sizes) - count
    if skip < 0:
        return None
    offset = sum(int(size) for size in sizes[:skip]) + skip
    return joined[offset:]


def retention_start(today: date, retention_days: int) -> date:
    """The first day kept: ``retention_days`` days ending today."""
    return today - timedelta(days=retention_days - 1)
