"""How a service opens its Redis client (the gateway, with its separate pools, has its own)."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from shared.settings import RedisSettings


def open_redis(settings: RedisSettings) -> Redis:
    """A client that retries a command once, on a fresh connection, after a connection error.

    After a Redis restart every pooled connection is dead; without the retry each of them fails one
    command, so a readiness probe answered 503 once per stale connection (and a lease renewal or a
    write failed for nothing).
    """
    return Redis.from_url(
        settings.url,
        password=settings.password.get_secret_value() or None,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 1),
    )
