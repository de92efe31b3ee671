"""``horde-risk-tail``: the deletion-risk events in a terminal, one line each.

    horde-risk-tail --bootstrap kafka:9092 [--from now|current|2026-01-31T12:00Z]
                    [--category text_generation] [--topic-prefix P] [--group G]

Without ``--group`` every run is a fresh, throw-away group (it never resumes); with one, a
second run continues where the first stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import uuid
from datetime import datetime

from horde_risk_subscriber.subscriber import CurrentRisk, Received, RiskChange, RiskSubscriber, Start


def describe(item: Received) -> str:
    """One terminal line per event."""
    if isinstance(item, RiskChange):
        event = item.event
        before = "-" if event.previous is None else f"score {event.previous.risk_score}"
        after = "removed" if event.current is None else f"score {event.current.risk_score}"
        critical = " CRITICAL" if event.turned_critical else ""
        return (
            f"{item.cloudevent.time:%Y-%m-%d %H:%M:%S} change  {event.category}/{event.model}: "
            f"{before} → {after} ({', '.join(event.changes)}){critical}"
        )
    if isinstance(item, CurrentRisk):
        state = item.event.state
        flags = [name for name, on in state.deletion_risk_flags.model_dump().items() if on]
        critical = " CRITICAL" if state.is_critical else ""
        return f"current {item.event.category}/{item.event.model}: score {state.risk_score} {flags}{critical}"
    return f"unreadable record {item.topic}[{item.partition}]@{item.offset}: {item.reason}"


def parse_start(text: str) -> Start:
    if text in ("now", "current"):
        return text  # type: ignore[return-value]
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def tail(args: argparse.Namespace) -> None:
    subscriber = RiskSubscriber(
        args.bootstrap, group_id=args.group or f"horde-risk-tail-{uuid.uuid4().hex[:8]}",
        start=parse_start(args.start), resume=bool(args.group), topic_prefix=args.topic_prefix,
        categories=args.category or None,
    )  # fmt: skip
    async with subscriber:
        async for item in subscriber:
            print(describe(item), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="horde-risk-tail", description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092"))
    parser.add_argument("--from", dest="start", default="now", help="now | current | an ISO time")
    parser.add_argument("--category", action="append", help="only this category (repeatable)")
    parser.add_argument("--topic-prefix", default=os.environ.get("HORDE_KAFKA__TOPIC_PREFIX", ""))
    parser.add_argument("--group", help="consumer group (default: a new one per run)")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(tail(args))
    sys.exit(0)


if __name__ == "__main__":
    main()
