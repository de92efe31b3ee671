"""Leader election for single-writer services (poller, reference watcher) through a Redis lease.

Two replicas can run; only the one holding the lease polls and publishes, the other waits
(healthy and ready) and takes over once the lease expires. Why Redis: every deployment already
runs it, a lease is three short Lua scripts, and a takeover needs no consumer-group rebalance.

* **Acquire**: ``SET NX PX`` semantics in a script that also ``INCR``s a counter that never
  expires (seeded from Redis's clock in ms when missing): each term gets a larger **fencing token**.
* **Renew**: compare-and-extend (the value must still be ours), every renew interval; a key that
  vanished (FLUSHDB, Redis restarted empty) while our deadline runs is taken again, new token.
* **Local deadline**: the holder trusts its lease until ``sent + lease`` by its own monotonic
  clock, where ``sent`` is when it *sent* the acquire/renew; Redis started the expiry later, so
  the holder always stops believing before a successor can acquire. A paused (SIGSTOP) leader
  that resumes finds its deadline passed and acts no more.
* **Fence**: :meth:`LeaderLease.confirm` (local deadline, then the value in Redis) runs before
  each publish; the token also travels in the ``hma_leader_token`` header of every record so a
  consumer can drop a stale leader's record that slipped between the check and the send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from shared.metrics import LEADER
from shared.redis_keys import RedisKeys
from shared.settings import LeaderSettings

log = logging.getLogger(__name__)

#: Kafka header carrying the publishing leader's fencing token (decimal).
TOKEN_HEADER = "hma_leader_token"

#: Acquire (ARGV[3] empty) or renew (ARGV[3] = our value): extend our own lease; take a free one
#: with the next token; refuse one held by another. The token counter starts from Redis's clock in
#: milliseconds when it is missing, so tokens keep growing even after a FLUSHDB or an empty restart.
_CLAIM = """
local current = redis.call('GET', KEYS[1])
if current then
  if current == ARGV[3] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(string.match(current, '|(%d+)$'))
  end
  return false
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  local now = redis.call('TIME')
  local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  redis.call('SET', KEYS[2], string.format('%d', ms))
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ARGV[2])
return token
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

Clock = Callable[[], float]


class NotLeaderError(RuntimeError):
    """This replica does not hold the lease (any more): it must not poll or publish."""


def holder_id() -> str:
    """Unique per process: host name (the pod's name in Kubernetes), pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class LeaderLease:
    """One service's lease as seen by one replica; ``token`` is set while it believes it leads."""

    redis: Redis
    keys: RedisKeys
    service: str
    settings: LeaderSettings
    holder: str = field(default_factory=holder_id)
    clock: Clock = time.monotonic
    token: int | None = None
    valid_until: float = 0.0

    @property
    def _key(self) -> str:
        return self.keys.leader_lease(self.service)

    @property
    def _value(self) -> str:
        return f"{self.holder}|{self.token}"

    @property
    def _lease_ms(self) -> int:
        return max(1, round(self.settings.lease_seconds * 1000))

    def held(self) -> bool:
        """Local check only (no I/O): a term is on and its deadline has not passed."""
        return self.token is not None and self.clock() < self.valid_until

    async def _claim(self, ours: str) -> bool:
        sent = self.clock()
        token = await self.redis.eval(
            _CLAIM, 2, self._key, self.keys.leader_token(self.service), self.holder, self._lease_ms, ours
        )
        if token is None:
            self.token = None
            return False
        if ours and int(token) != self.token:
            log.warning(
                "leader lease vanished from Redis (flushed or restarted); taken again",
                extra={"service": self.service, "token": int(token)},
            )
        self.token, self.valid_until = int(token), sent + self.settings.lease_seconds
        return True

    async def try_acquire(self) -> bool:
        """Take the lease if it is free (a new term with a new token); ``False`` if another holds it."""
        return await self._claim("")

    async def renew(self) -> bool:
        """Extend our lease; ``False`` (and the term ends) when another replica holds it or our own
        deadline has passed. If the key vanished while our deadline still runs (FLUSHDB, Redis
        restarted empty), nobody else can have led meanwhile: take it again with a new token and
        go on, so the work is not restarted."""
        if not self.held():
            self.token = None
            return False
        return await self._claim(self._value)

    async def confirm(self) -> int:
        """The fence before a publish: our term is on locally and in Redis; returns its token."""
        token = self.token
        if token is None or not self.held():
            raise NotLeaderError(f"{self.service}: not the leader (lease expired or lost)")
        current = await self.redis.get(self._key)
        value = current.decode() if isinstance(current, bytes) else current
        if value != f"{self.holder}|{token}" or not self.held():
            raise NotLeaderError(f"{self.service}: the lease belongs to another replica now")
        return token

    async def release(self) -> None:
        """Give the lease up at once (graceful stop), so the standby need not wait for expiry."""
        if self.token is None:
            return
        value, self.token = self._value, None
        with contextlib.suppress(Exception):
            await self.redis.eval(_RELEASE, 1, self._key, value)


Work = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), max(0.0, seconds))


async def lead(lease: LeaderLease, stop: asyncio.Event, work: Work) -> None:
    """Until ``stop``: wait as a standby, and while leading run ``work(term_stop)``.

    ``term_stop`` is set (and ``work`` awaited, then cancelled if it lingers) when the lease is
    lost, renewal fails until the local deadline, or ``stop`` is set; then the lease is released.
    A new term calls ``work`` afresh, so it rebuilds any state from the topics.
    """
    interval = lease.settings.renew_interval_seconds
    LEADER.labels(lease.service).set(0)
    try:
        while not stop.is_set():
            try:
                acquired = await lease.try_acquire()
            except Exception as exc:
                log.warning("leader lease unreachable", extra={"service": lease.service, "error": repr(exc)})
                acquired = False
            if acquired:
                await _term(lease, stop, work)
            else:
                await _wait(stop, interval)
    finally:
        LEADER.labels(lease.service).set(0)
        await lease.release()


async def _term(lease: LeaderLease, stop: asyncio.Event, work: Work) -> None:
    log.info("leading", extra={"service": lease.service, "holder": lease.holder, "token": lease.token})
    LEADER.labels(lease.service).set(1)
    term_stop = asyncio.Event()
    task = asyncio.create_task(work(term_stop), name=f"{lease.service}-leader-work")
    reason = "stopping"
    try:
        while not stop.is_set() and not task.done():
            await _wait(stop, min(lease.settings.renew_interval_seconds, lease.valid_until - lease.clock()))
            if stop.is_set() or task.done():
                break
            try:
                renewed = await lease.renew()
            except Exception as exc:
                renewed = lease.held()  # keep leading until the deadline while Redis is unreachable
                log.warning(
                    "leader lease renewal failed", extra={"service": lease.service, "error": repr(exc)}
                )
            if not renewed or not lease.held():
                reason = "lease lost"
                lease.token = None
                break
    finally:
        LEADER.labels(lease.service).set(0)
        term_stop.set()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
            grace = max(1.0, lease.settings.renew_interval_seconds)
            await asyncio.wait_for(asyncio.shield(task), timeout=grace)
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        log.info("no longer leading", extra={"service": lease.service, "reason": reason})
    if task.done() and not task.cancelled() and task.exception() is not None and not stop.is_set():
        raise RuntimeError(f"{lease.service} failed while leading") from task.exception()


async def lease_headers(lease: LeaderLease) -> dict[str, str]:
    """A publisher fence: raises :class:`NotLeaderError` unless we lead; else the token header."""
    return {TOKEN_HEADER: str(await lease.confirm())}
