"""Post a line when a model turns critical (a downstream service in a dozen lines).

    KAFKA_BOOTSTRAP_SERVERS=kafka:9092 ALERT_WEBHOOK_URL=https://chat.example/hook \
        python examples/critical_alert.py

Without ``ALERT_WEBHOOK_URL`` the line is printed. The group ``critical-alert`` remembers what
was handled, so a restart neither repeats nor misses an alert.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request

from horde_risk_subscriber import RiskChange, RiskSubscriber, UnreadableRecord


def post(line: str) -> None:
    url = os.environ.get("ALERT_WEBHOOK_URL")
    if not url:
        print(line, flush=True)
        return
    body = json.dumps({"text": line}).encode()
    request = urllib.request.Request(url, body, {"content-type": "application/json"})
    urllib.request.urlopen(request, timeout=10).close()


async def main() -> None:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092")
    async with RiskSubscriber(bootstrap, group_id="critical-alert", start="now") as risks:
        async for item in risks:
            if isinstance(item, RiskChange) and item.event.turned_critical:
                event = item.event
                await asyncio.to_thread(
                    post, f"{event.category}/{event.model} turned critical ({', '.join(event.changes)})"
                )
            elif isinstance(item, UnreadableRecord):
                print(f"skipped {item.topic}[{item.partition}]@{item.offset}: {item.reason}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
