"""Issue 15: the store owns every Redis call of the materialised layout. Nothing in the analytics
service imports the Redis client or the key builders, or reaches into a store's client or keys:
a new Redis call belongs in ``shared/store`` (and gets its test there)."""

from __future__ import annotations

import re
from pathlib import Path

ANALYTICS = Path(__file__).resolve().parents[3] / "services" / "analytics"

#: Direct Redis use: the client library, the key builders, a store's client or keys.
FORBIDDEN = re.compile(
    r"^\s*(from|import)\s+redis\b"  # the client library
    r"|\bredis_keys\b|\bRedisKeys\b"  # the key builders
    r"|(?<!settings)\.redis\b|\bstore\.keys\b|\bself\.keys\b"  # a store's client or keys (not its settings)
    r"|\b(open_redis|Redis\.from_url)\b",  # a client of its own
    re.MULTILINE,
)


def offences(source: str) -> list[str]:
    """The lines of ``source`` that use Redis directly (comments and docstrings count too: an
    example of direct use in the service invites it)."""
    return [line.strip() for line in source.splitlines() if FORBIDDEN.search(line)]


def test_no_module_of_the_analytics_service_touches_redis_directly() -> None:
    modules = sorted(ANALYTICS.glob("*.py"))
    assert len(modules) >= 10, "the analytics package moved: point this test at it"
    found = {path.name: lines for path in modules if (lines := offences(path.read_text()))}
    assert not found, f"Redis used outside shared/store (add a store method instead): {found}"


def test_the_check_catches_each_kind_of_direct_use() -> None:
    """The pattern itself: each former direct use in the worker would be caught."""
    for line in (
        "from redis.asyncio import Redis",
        "import redis",
        "from shared.redis_keys import RedisKeys",
        "pipe = self.store.redis.pipeline(transaction=False)",
        "pipe.hget(self.store.keys.current(category), 'generation')",
        "key = self.keys.risk_events(category)",
        "redis = open_redis(settings.redis)",
    ):
        assert offences(line), line
    for line in ("stores = AnalyticsStores.open(settings.redis)", "log.warning('redis lost the history')"):
        assert not offences(line), line
