"""Where reference payloads come from: a local folder, the public GitHub files, or the v2 API.

Every source answers one question per poll: "what are the bytes of each category now?". Sources
never parse: bytes go to :func:`shared.domain.reference.parse.parse_reference` in the watcher,
so every source gets the same validation and guards. A failure is reported per category
(:class:`FetchFailed`) and means "keep the previous version", never "the category is empty".

HTTP sources remember the last body with its validator (ETag / ``last_updated``) and return the
remembered body when the server says nothing changed, so the watcher never mistakes a 304 for an
empty reference and can retry a publish that failed after the download.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import httpx
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from shared.domain.categories import ModelCategory
from shared.domain.reference.legacy_image import LEGACY_IMAGE_FILES
from shared.domain.reference.parse import LEGACY_TEXT_FILES, V2_FILES, ReferenceFormat

log = logging.getLogger(__name__)

_TEXT = ModelCategory.TEXT_GENERATION


#: Text reference files in order of preference: the maintained ``models.csv``, else ``db.json``.
TEXT_PREFERENCE: tuple[ReferenceFormat, ...] = ("csv", "legacy")


@dataclass(frozen=True, slots=True)
class Fetched:
    """The current bytes of one category; ``not_modified`` when the server confirmed our copy."""

    category: ModelCategory
    format: ReferenceFormat
    payload: bytes
    origin: str
    not_modified: bool = False


@dataclass(frozen=True, slots=True)
class FetchFailed:
    """The category could not be read this poll; its previous version stays in force."""

    category: ModelCategory
    origin: str
    error: str


FetchResult = Fetched | FetchFailed


class ReferenceSource(Protocol):
    """A place the reference is read from; ``name`` ends up in logs and in events' ``source``."""

    name: str

    async def fetch(self) -> list[FetchResult]:
        """One result per category this source offers, in a stable order."""
        ...


# --------------------------------------------------------------------------------------------- folder


class FolderSource:
    """A local folder in the legacy layout (``image/*.json``, ``text/db.json`` or ``text/models.csv``)
    or the v2 layout (``<category>.json``; ``stable_diffusion.json`` also names image generation).

    Only files that exist are reported: a folder is a deployment's choice of categories. A file
    that disappears is not a removal of its models; the watcher keeps the last version.
    """

    name = "folder"

    def __init__(self, folder: Path, layout: Literal["auto", "legacy", "v2"] = "auto") -> None:
        self.folder = folder
        self.layout = layout

    def _effective_layout(self) -> Literal["legacy", "v2"]:
        if self.layout != "auto":
            return self.layout
        legacy = (self.folder / "image").is_dir() or (self.folder / "text").is_dir()
        return "legacy" if legacy else "v2"

    def files(self) -> list[tuple[ModelCategory, ReferenceFormat, Path]]:
        """The category files present now, in category declaration order."""
        found: list[tuple[ModelCategory, ReferenceFormat, Path]] = []
        if self._effective_layout() == "legacy":
            for category in ModelCategory:
                if category is _TEXT:
                    # models.csv first: maintainers edit it; db.json is generated from it with
                    # defaults and generated tags merged in (contract: text reference source).
                    paths = ((fmt, self.folder / "text" / LEGACY_TEXT_FILES[fmt]) for fmt in TEXT_PREFERENCE)
                    hit = next(((fmt, path) for fmt, path in paths if path.is_file()), None)
                    if hit is not None:
                        found.append((category, hit[0], hit[1]))
                elif category in LEGACY_IMAGE_FILES:
                    path = self.folder / "image" / LEGACY_IMAGE_FILES[category]
                    if path.is_file():
                        found.append((category, "legacy", path))
            return found
        for category in ModelCategory:
            candidates = [self.folder / f"{category.value}.json", self.folder / V2_FILES[category]]
            present = next((p for p in candidates if p.is_file()), None)
            if present is not None:
                found.append((category, "v2", present))
        return found

    async def fetch(self) -> list[FetchResult]:
        return await asyncio.to_thread(self._read_all)

    def _read_all(self) -> list[FetchResult]:
        results: list[FetchResult] = []
        for category, fmt, path in self.files():
            try:
                results.append(Fetched(category, fmt, path.read_bytes(), str(path)))
            except OSError as exc:
                results.append(FetchFailed(category, str(path), f"cannot read file: {exc}"))
        return results


# ----------------------------------------------------------------------------------------------- HTTP


class RetryableStatus(Exception):
    """A 429 or 5xx answer: worth another attempt."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code} from {response.request.url}")
        self.response = response


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, RetryableStatus | httpx.TransportError)


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    """Retry budget of one request; ``wait_seconds`` is the first backoff (tests pass 0)."""

    attempts: int = 4
    wait_seconds: float = 1.0
    max_wait_seconds: float = 30.0


async def get_with_retries(
    client: httpx.AsyncClient, url: str, policy: HttpPolicy, headers: dict[str, str] | None = None
) -> httpx.Response:
    """GET with exponential backoff on transport errors, 429 and 5xx; other answers are returned."""
    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait_exponential(multiplier=policy.wait_seconds, max=policy.max_wait_seconds),
        retry=retry_if_exception(_retryable),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            response = await client.get(url, headers=headers)
            if response.status_code == 429 or response.status_code >= 500:
                raise RetryableStatus(response)
            return response
    raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


class GithubSource:
    """The public legacy files on GitHub (raw URLs), fetched with ``If-None-Match``.

    raw.githubusercontent.com answers 304 to a matching ETag, so an unchanged reference costs a
    few hundred bytes per poll. Text is read from ``models.csv`` (the maintained source); only when
    the repository answers 404 for it is the generated ``db.json`` read instead.
    """

    name = "github"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        image_base_url: str,
        text_base_url: str,
        categories: list[ModelCategory],
        policy: HttpPolicy | None = None,
    ) -> None:
        self.client = client
        self.policy = policy or HttpPolicy()
        #: Per category, its candidate files in order of preference.
        self.urls: list[tuple[ModelCategory, tuple[tuple[ReferenceFormat, str], ...]]] = []
        for category in categories:
            if category is _TEXT:
                base = text_base_url.rstrip("/")
                self.urls.append(
                    (category, tuple((f, f"{base}/{LEGACY_TEXT_FILES[f]}") for f in TEXT_PREFERENCE))
                )
            elif category in LEGACY_IMAGE_FILES:
                url = f"{image_base_url.rstrip('/')}/{LEGACY_IMAGE_FILES[category]}"
                self.urls.append((category, (("legacy", url),)))
            else:
                log.warning("category has no legacy GitHub file; not watched", extra={"category": category})
        self._cache: dict[str, tuple[str, bytes]] = {}

    async def fetch(self) -> list[FetchResult]:
        results: list[FetchResult] = []
        for category, candidates in self.urls:
            result: FetchResult | None = None
            for fmt, url in candidates:
                result = await self._fetch_one(category, fmt, url)
                # Only "this file does not exist" moves on to the next candidate; any other failure
                # keeps the previous version rather than silently switching files.
                if not (isinstance(result, FetchFailed) and result.error == "HTTP 404"):
                    break
            if result is not None:
                results.append(result)
        return results

    async def _fetch_one(self, category: ModelCategory, fmt: ReferenceFormat, url: str) -> FetchResult:
        cached = self._cache.get(url)
        headers = {"If-None-Match": cached[0]} if cached else None
        try:
            response = await get_with_retries(self.client, url, self.policy, headers)
        except Exception as exc:
            return FetchFailed(category, url, _describe(exc))
        if response.status_code == 304 and cached is not None:
            return Fetched(category, fmt, cached[1], url, not_modified=True)
        if response.status_code != 200:
            return FetchFailed(category, url, f"HTTP {response.status_code}")
        etag = response.headers.get("ETag")
        if etag:
            self._cache[url] = (etag, response.content)
        return Fetched(category, fmt, response.content, url)


class V2ApiSource:
    """The reference service (horde-model-reference): ``GET {base}/model_references/v2/{category}``
    returns the category as ``{name: record}``.

    Optional shortcut (assumed from upstream's v2 metadata router):
    ``GET {base}/model_references/v2/metadata/{category}/last_updated`` → ``{"category": ...,
    "last_updated": <unix seconds or null>}``. When it answers 200 with the same non-null value as
    the last full fetch, the category is reported unchanged without downloading it. Any other
    answer (404, 503 in replica mode, null, an error) just means "download the category".
    """

    name = "v2_api"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        categories: list[ModelCategory],
        use_last_updated: bool = True,
        policy: HttpPolicy | None = None,
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/") + "/model_references/v2"
        self.categories = list(categories)
        self.use_last_updated = use_last_updated
        self.policy = policy or HttpPolicy()
        self._cache: dict[ModelCategory, tuple[int | None, bytes]] = {}

    async def fetch(self) -> list[FetchResult]:
        return [await self._fetch_one(category) for category in self.categories]

    async def last_updated(self, category: ModelCategory) -> int | None:
        """The service's change stamp of ``category``, or None when it cannot tell."""
        url = f"{self.base_url}/metadata/{category.value}/last_updated"
        try:
            response = await self.client.get(url)
            value = response.json().get("last_updated") if response.status_code == 200 else None
        except (httpx.HTTPError, json.JSONDecodeError, AttributeError) as exc:
            log.debug("last_updated unavailable", extra={"category": category, "error": _describe(exc)})
            return None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    async def _fetch_one(self, category: ModelCategory) -> FetchResult:
        url = f"{self.base_url}/{category.value}"
        # Read the stamp before the body: an update landing in between makes the next poll download again.
        stamp = await self.last_updated(category) if self.use_last_updated else None
        cached = self._cache.get(category)
        if stamp is not None and cached is not None and cached[0] == stamp:
            return Fetched(category, "v2", cached[1], url, not_modified=True)
        try:
            response = await get_with_retries(self.client, url, self.policy)
        except Exception as exc:
            return FetchFailed(category, url, _describe(exc))
        if response.status_code != 200:
            return FetchFailed(category, url, f"HTTP {response.status_code}")
        self._cache[category] = (stamp, response.content)
        return Fetched(category, "v2", response.content, url)
