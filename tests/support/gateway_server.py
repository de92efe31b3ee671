"""A real uvicorn server around the gateway app, and a reader of Server-Sent Events.

Streams and connection reuse need a real server on loopback: an in-process ASGI transport buffers
whole responses (an endless stream never finishes) and has no connection to keep alive.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import uvicorn
from redis.asyncio import Redis

from services.gateway.app import create_app
from shared.domain.categories import ModelCategory
from shared.events.risk import DeletionRiskChanged
from shared.redis_keys import RedisKeys
from shared.settings import Settings


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[str]:
    """The gateway on a free loopback port for the duration of the block; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=0, log_config=None, lifespan="on",
            timeout_graceful_shutdown=2,
        )
    )  # fmt: skip
    task = asyncio.create_task(server.serve())
    for _ in range(500):  # bounded: uvicorn offers no started event
        if server.started:
            break
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, 10)


class SSE:
    """Messages of one open event stream."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.aiter_lines()

    async def next(self, within: float = 30) -> dict[str, str]:
        """The next message (comments as ``{"comment": ...}``)."""

        async def read() -> dict[str, str]:
            message: dict[str, str] = {}
            async for line in self.lines:
                if not line:
                    if message:
                        return message
                    continue
                field, _, value = line.partition(":")
                message[field or "comment"] = value.removeprefix(" ")
            raise AssertionError("stream ended")

        return await asyncio.wait_for(read(), within)

    async def next_event(self, within: float = 30) -> dict[str, str]:
        while True:
            message = await self.next(within)
            if "data" in message:
                return message


async def write_risk_event(redis: Redis, keys: RedisKeys, category: ModelCategory, model: str) -> str:
    """XADD one risk change with the fields the analytics workers write; returns its position."""
    event = DeletionRiskChanged.model_validate(
        {
            "category": category.value,
            "model": model,
            "previous": None,
            "current": None,
            "changes": ["added"],
            "basis": {
                "generation": "g",
                "reference_version": "r",
                "horde_status_at_ms": 1,
                "horde_stats_at_ms": 1,
            },
            "detected_at": datetime.now(UTC).isoformat(),
        }
    )
    position = await redis.xadd(
        keys.risk_events(category), {"id": f"{model}-id", "source": "test", "data": event.model_dump_json()}
    )
    return position.decode() if isinstance(position, bytes) else str(position)
