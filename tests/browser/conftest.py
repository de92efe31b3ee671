"""A running stack on the recorded data, with backfilled history, and a headless Debian Chromium.

One stack per module, stopped with it (the browser tests only read, except the one that switches
the stand-in to its second frame, which runs last in its file). Chromium is ``HORDE_CHROMIUM``, else
``chromium`` on PATH, else ``/usr/bin/chromium``; without one the tests are skipped locally with
the reason, and fail where ``HORDE_REQUIRE_CHROMIUM=1`` (``.ci/run``; ``.ci/install-tools`` installs
Debian's package).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.devstack.history_backfill import DEFAULT_DATA, backfill
from devtools.devstack.processes import (
    STACK_SERVICES,
    ServiceProcess,
    start_services,
    start_standin,
    stop_services,
)
from shared.settings import Settings
from tests.support.events import DATA, SYNTHETIC
from tests.support.kafka_broker import KafkaInfo
from tests.support.stack_files import reference_folder, stack_env

API = "/model_references/statistics"
TEXT = "text_generation"
IMAGE = "image_generation"
#: Days of history backfilled before the stack's first recorded day.
BACKFILL_DAYS = 30
BACKENDS = ("aphrodite/", "koboldcpp/")


def chromium_path() -> str | None:
    candidates = [os.environ.get("HORDE_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"]
    return next((c for c in candidates if c and Path(c).is_file()), None)


def artifacts() -> Path:
    folder = Path(os.environ.get("HORDE_ARTIFACTS_DIR") or ".ci/work/artifacts") / "review"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _base(name: str) -> str:
    """A Horde or reference text name without backend prefix, organisation and ``::`` suffix."""
    return name.split("::")[0].rsplit("/", 1)[-1].casefold()


def served_text_model() -> tuple[str, str]:
    """A text model served now, as (reference name, base name shared by all its Horde spellings)."""
    workers = json.loads((SYNTHETIC / "workers.json").read_text())
    served = {_base(m) for w in workers if w.get("type") == "text" for m in w.get("models") or ()}
    status = json.loads((SYNTHETIC / "status_models_text.json").read_text())
    reference = json.loads((DATA / "reference/text/db.json").read_text())
    by_base: dict[str, list[str]] = {}
    for name in reference:
        if not name.startswith(BACKENDS):  # backend spellings share the canonical name's row
            by_base.setdefault(_base(name), []).append(name)
    for entry in status:
        base = _base(entry["name"])
        if entry["count"] > 0 and base in served and len(by_base.get(base, ())) == 1:
            return by_base[base][0], base
    raise AssertionError("no served text model with a single reference name in the recorded data")


def write_frames(root: Path, base: str) -> Path:
    """Frame 0: the recorded synthetic snapshot. Frame 1: every spelling of the model ``base``
    gone from the text workers and the status (its risk changes: no active workers)."""
    frames = root / "frames"
    shutil.copytree(SYNTHETIC, frames / "0")
    second = frames / "1"
    second.mkdir()
    workers = json.loads((SYNTHETIC / "workers.json").read_text())
    for worker in workers:
        worker["models"] = [m for m in worker.get("models") or () if _base(m) != base]
    (second / "workers.json").write_text(json.dumps(workers))
    status = json.loads((SYNTHETIC / "status_models_text.json").read_text())
    (second / "status_models_text.json").write_text(
        json.dumps([e for e in status if _base(e["name"]) != base])
    )
    return frames


@dataclass
class ReviewStack:
    gateway: str
    standin: str
    moved_model: str
    services: dict[str, ServiceProcess]

    def api(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.gateway}{API}/{path}", params=params, timeout=30)

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{s.log_text()[-3000:]}" for n, s in self.services.items())


def _until(check: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"not within {within} s: {what}")


@pytest.fixture(scope="session")
def chromium() -> str:
    found = chromium_path()
    if found is None:
        if os.environ.get("HORDE_REQUIRE_CHROMIUM") == "1":
            pytest.fail(
                "no chromium binary, and HORDE_REQUIRE_CHROMIUM=1: run .ci/install-tools (Debian's chromium)"
            )
        pytest.skip("no chromium binary (install Debian's `chromium` or set HORDE_CHROMIUM)")
    return found


@pytest.fixture(scope="module")
def review_stack(
    kafka: KafkaInfo, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ReviewStack]:
    root = tmp_path_factory.mktemp("review")
    unique = uuid.uuid4().hex[:10]
    model, base = served_text_model()
    frames = write_frames(root, base)
    args = ["--data-dir", str(frames), "--reference-dir", str(DATA / "reference"), "--rate-limit", "100000"]
    standin = start_standin(args, root / "standin.log")
    try:
        env = stack_env(
            kafka_env=kafka.env(), redis_url=redis_url, prefix=f"review{unique}", standin=standin.base_url,
            reference=reference_folder(root, with_clip=False), workers_every=2, stats_every=2,
            reference_poll_every=2,
        )  # fmt: skip
        services = start_services(STACK_SERVICES, env, root, ready_within=90)
        try:
            stack = ReviewStack(services["gateway"].base_url, standin.base_url, model, services)
            for category in (IMAGE, TEXT):
                _until(lambda c=category: stack.api(f"{c}/deletion-risk").status_code == 200, 90,
                       f"{category} risk listing")  # fmt: skip
            with pytest.MonkeyPatch.context() as patch:
                for key, value in env.items():
                    patch.setenv(key, value)
                settings = Settings()
            # Its own loop in its own thread: the session may already run one in this thread.
            with ThreadPoolExecutor(1) as pool:
                pool.submit(asyncio.run, backfill(settings, DEFAULT_DATA, BACKFILL_DAYS)).result()
            yield stack
        finally:
            stop_services(services)
    finally:
        standin.stop()


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    """Module-scoped on purpose: Playwright's sync API runs an event loop in this thread while it is
    open, which would break every later test of the session that starts a loop of its own."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()
