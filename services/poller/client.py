"""The AI Horde API client: one pooled ``httpx.AsyncClient``, etiquette headers, retries, validation.

Every attempt takes a slot from the shared :class:`RequestBudget` first, so retries count against
the same per-minute budget as scheduled polls. Transport errors, timeouts, 5xx and 429 are retried
with jittered exponential backoff (``Retry-After`` is a floor); other 4xx are not, because asking
again cannot fix them. A body that does not validate is never turned into data: it raises
:class:`MalformedPayloadError` naming the endpoint and the first problem. Validation is strict
(``"52"`` is not a count): the recorded real payloads pass it, and a type change upstream should
surface as a health alert rather than be coerced silently.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar, get_args

import httpx
from pydantic import TypeAdapter, ValidationError
from tenacity import AsyncRetrying, RetryCallState, RetryError, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from services.poller.budget import RequestBudget
from services.poller.ratelimit import RateLimit, parse_retry_after
from shared.domain.categories import HordeModelType
from shared.domain.horde.payloads import HordeModelStats, HordeModelStatus, HordeWorker
from shared.horde_sources import SOURCE, WORKER_FIELDS, Endpoint, HordeSource
from shared.metrics import POLL_REQUESTS, RATE_LIMIT_REMAINING
from shared.settings import HordeApiSettings

log = logging.getLogger(__name__)

ENDPOINTS: tuple[Endpoint, ...] = get_args(Endpoint)
__all__ = ["ENDPOINTS", "WORKER_FIELDS", "Endpoint", "HordeApiClient"]
#: Backoff between attempts: 1 s, 2 s, 4 s … up to 30 s, plus up to 1 s of jitter.
BACKOFF_INITIAL_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 30.0
BACKOFF_JITTER_SECONDS = 1.0
#: Longest pause we accept from ``Retry-After`` or ``X-RateLimit-Reset`` (a bogus value cannot stall us).
MAX_SERVER_PAUSE_SECONDS = 120.0

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


class HordeApiError(Exception):
    """Base of the client's errors; ``endpoint`` and ``url`` say which request failed."""

    def __init__(self, endpoint: Endpoint, url: str, message: str) -> None:
        super().__init__(f"{endpoint} ({url}): {message}")
        self.endpoint = endpoint
        self.url = url


class HordeRequestFailedError(HordeApiError):
    """No usable answer: the last attempt failed, or the server refused the request (4xx)."""

    def __init__(
        self, endpoint: Endpoint, url: str, message: str, *, attempts: int, status_code: int | None
    ) -> None:
        super().__init__(endpoint, url, f"{message} after {attempts} attempt(s)")
        self.attempts = attempts
        self.status_code = status_code


class MalformedPayloadError(HordeApiError):
    """The server answered 2xx but the body is not the payload we expect (never published)."""


class _Retryable(Exception):
    """An attempt worth repeating; carries the server's ``Retry-After`` if it sent one."""

    def __init__(
        self, message: str, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Fetched(Generic[T]):
    """A validated payload with where and when it was fetched."""

    endpoint: Endpoint
    model_type: HordeModelType
    url: str
    fetched_at: datetime
    payload: T
    rate_limit: RateLimit


def client_agent(settings: HordeApiSettings) -> str:
    """``Client-Agent: name:version:contact``, the Horde's required identification."""
    try:
        version = importlib.metadata.version("horde-model-analytics")
    except importlib.metadata.PackageNotFoundError:
        version = "0.0.0"
    return f"{settings.client_name}:{version}:{settings.contact}"


class HordeApiClient:
    """The poller's only way to the AI Horde; create one per process and ``aclose`` it on exit."""

    def __init__(
        self,
        settings: HordeApiSettings,
        budget: RequestBudget,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        headers = {"Client-Agent": client_agent(settings), "Accept": "application/json"}
        if settings.api_key.get_secret_value():
            headers["apikey"] = settings.api_key.get_secret_value()
        self._http = httpx.AsyncClient(
            base_url=settings.base_url,
            headers=headers,
            timeout=httpx.Timeout(settings.timeout_seconds, connect=min(10.0, settings.timeout_seconds)),
            transport=transport,
            follow_redirects=True,
        )
        self._budget = budget
        self._max_attempts = max(1, settings.max_attempts)
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._backoff = wait_exponential_jitter(
            initial=BACKOFF_INITIAL_SECONDS, max=BACKOFF_MAX_SECONDS, jitter=BACKOFF_JITTER_SECONDS
        )
        self.last_rate_limit = RateLimit()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def fetch(self, source: HordeSource, model_type: HordeModelType) -> Fetched[Any]:
        """One endpoint of the source table (``shared.horde_sources``), validated by its payload model."""
        path, params = source.requests[model_type]
        return await self._fetch(
            source.endpoint, model_type, path, dict(params), dict(source.headers), source.payload
        )

    async def status_models(self, model_type: HordeModelType) -> Fetched[tuple[HordeModelStatus, ...]]:
        """``/v2/status/models?type=…&model_state=known`` (always pass ``type``: its default is image)."""
        return await self.fetch(SOURCE["status"], model_type)

    async def stats_models(self, model_type: HordeModelType) -> Fetched[HordeModelStats]:
        """``/v2/stats/img/models?model_state=known`` or ``/v2/stats/text/models`` (takes no params)."""
        return await self.fetch(SOURCE["stats"], model_type)

    async def workers(self, model_type: HordeModelType) -> Fetched[tuple[HordeWorker, ...]]:
        """``/v2/workers?type=…`` reduced server-side by an ``X-Fields`` mask."""
        return await self.fetch(SOURCE["workers"], model_type)

    async def _fetch(
        self,
        endpoint: Endpoint,
        model_type: HordeModelType,
        path: str,
        params: dict[str, str],
        headers: dict[str, str],
        adapter: TypeAdapter[T],
    ) -> Fetched[T]:
        response = await self._get(endpoint, path, params, headers)
        url = str(response.url)
        try:
            payload = adapter.validate_json(response.content, strict=True)
        except ValidationError as exc:
            POLL_REQUESTS.labels(endpoint, "malformed").inc()
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"]) or "body"
            raise MalformedPayloadError(
                endpoint, url, f"invalid payload at {where}: {first['msg']} ({exc.error_count()} error(s))"
            ) from None
        POLL_REQUESTS.labels(endpoint, "ok").inc()
        return Fetched(endpoint, model_type, url, datetime.now(UTC), payload, self.last_rate_limit)

    async def _get(
        self, endpoint: Endpoint, path: str, params: dict[str, str], headers: dict[str, str]
    ) -> httpx.Response:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            sleep=self._sleep,
            reraise=False,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(endpoint, path, params, headers)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            status = last.status_code if isinstance(last, _Retryable) else None
            url = str(self._http.build_request("GET", path, params=params).url)
            raise HordeRequestFailedError(
                endpoint, url, str(last), attempts=exc.last_attempt.attempt_number, status_code=status
            ) from last
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def _attempt(
        self, endpoint: Endpoint, path: str, params: dict[str, str], headers: dict[str, str]
    ) -> httpx.Response:
        try:
            async with self._budget.request():
                response = await self._http.get(path, params=params, headers=headers)
        except httpx.TransportError as exc:
            POLL_REQUESTS.labels(endpoint, "transport_error").inc()
            raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
        self._note_rate_limit(response)
        status = response.status_code
        if status == 429 or status >= 500:
            POLL_REQUESTS.labels(endpoint, f"http_{status // 100}xx" if status != 429 else "http_429").inc()
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self._wall_clock())
            if retry_after is not None:
                self._budget.hold(min(retry_after, MAX_SERVER_PAUSE_SECONDS))
            raise _Retryable(f"HTTP {status}", status, retry_after)
        if status >= 400:
            POLL_REQUESTS.labels(endpoint, "http_4xx").inc()
            raise HordeRequestFailedError(
                endpoint,
                str(response.url),
                f"HTTP {status}: {response.text[:200]!r}",
                attempts=1,
                status_code=status,
            )
        return response

    def _note_rate_limit(self, response: httpx.Response) -> None:
        limit = RateLimit.from_headers(response.headers, self._wall_clock())
        if limit.remaining is None:
            return
        self.last_rate_limit = limit
        RATE_LIMIT_REMAINING.set(limit.remaining)
        if limit.is_low():
            pause = min(limit.reset_after_seconds or 60.0, MAX_SERVER_PAUSE_SECONDS)
            log.warning(
                "AI Horde rate limit nearly used up; pausing requests",
                extra={"remaining": limit.remaining, "pause_seconds": round(pause, 1)},
            )
            self._budget.hold(pause)

    def _wait(self, state: RetryCallState) -> float:
        """Jittered exponential backoff, but never shorter than the server's ``Retry-After``."""
        backoff = self._backoff(state)
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, _Retryable) and error.retry_after is not None:
            return max(backoff, min(error.retry_after, MAX_SERVER_PAUSE_SECONDS))
        return backoff


def describe(error: BaseException) -> str:
    """One line for health events and logs (never includes headers, so never the API key)."""
    return str(error) if isinstance(error, HordeApiError) else f"{type(error).__name__}: {error}"
