"""The chaos suite's stack: the stand-in and the four services as processes, and ways to hurt them.

Every stack gets unique topic, key and group prefixes, so scenarios share the session's broker
and Redis without seeing each other; scenarios that restart a dependency bring their own. Every
wait is bounded and fails with the services' log tails.
"""

from __future__ import annotations

import json
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from devtools.devstack.ports import free_port
from devtools.devstack.processes import STACK_SERVICES, ServiceProcess, start_standin
from tests.support.events import DATA, SYNTHETIC
from tests.support.stack_files import reference_folder, stack_env, stop_together

PREFIX = "/model_references/statistics"
IMAGE_WITH_STATS = f"{PREFIX}/image_generation/with-stats"
IMAGE_RISK = f"{PREFIX}/image_generation/deletion-risk"
TEXT_WITH_STATS = f"{PREFIX}/text_generation/with-stats"
TEXT_RISK = f"{PREFIX}/text_generation/deletion-risk"
#: The model whose numbers mark each frame: its status count is ``MARK_BASE + frame``.
MARKED_MODEL = "stable_diffusion"
MARK_BASE = 100


# ---------------------------------------------------------------------------------------- frames


def marked_frame(index: int) -> dict[str, Any]:
    """Frame ``index``: the synthetic snapshot with the marked model on ``MARK_BASE + index`` threads
    and served by ``index % 3`` image workers (0 every third frame: a risk flag flips)."""
    status = json.loads((SYNTHETIC / "status_models_image.json").read_text())
    for entry in status:
        if entry["name"] == MARKED_MODEL:
            entry["count"] = MARK_BASE + index
    workers = json.loads((SYNTHETIC / "workers.json").read_text())
    serving = workers_of_frame(index)
    for worker in workers:
        models = [m for m in worker.get("models", []) if m != MARKED_MODEL]
        if worker.get("type") == "image" and serving > 0:
            models.append(MARKED_MODEL)
            serving -= 1
        worker["models"] = models
    return {"status_models_image.json": status, "workers.json": workers}


def write_frames(root: Path, count: int, extra: list[dict[str, Any]] | None = None) -> Path:
    """``count`` frame folders (``000`` …): frame 0 holds the whole synthetic snapshot, later
    frames only the marked payloads (the stand-in inherits the rest); then the ``extra`` frames
    (payload name → JSON value)."""
    frames = root / "frames"
    first = frames / "000"
    shutil.copytree(SYNTHETIC, first)
    for index in range(count):
        folder = frames / f"{index:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        for name, payload in marked_frame(index).items():
            (folder / name).write_text(json.dumps(payload))
    for offset, frame in enumerate(extra or []):
        folder = frames / f"{count + offset:03d}"
        folder.mkdir(parents=True)
        for name, payload in frame.items():
            (folder / f"{name.removesuffix('.json')}.json").write_text(json.dumps(payload))
    return frames


# ----------------------------------------------------------------------------------------- stack


@dataclass
class ChaosStack:
    """A running stack; ``services`` maps names (``analytics-1``, …) to their processes."""

    root: Path
    env: dict[str, str]
    standin: ServiceProcess
    services: dict[str, ServiceProcess]
    frames: Path
    reference: Path
    topic_prefix: str
    key_prefix: str
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))
    #: Log size of each service at its last start (only newer lines describe the live process).
    log_marks: dict[str, int] = field(default_factory=dict)

    # -- addresses ---------------------------------------------------------------------------
    @property
    def gateway(self) -> str:
        return self.services["gateway"].base_url

    def analytics(self) -> list[str]:
        return sorted(name for name in self.services if name.startswith("analytics"))

    # -- process control ---------------------------------------------------------------------
    def start(self, name: str) -> None:
        service = self.services[name]
        self.log_marks[name] = len(service.log_text().encode())
        service.start()

    def kill(self, name: str) -> None:
        """SIGKILL: no clean-up, no LeaveGroup, nothing flushed."""
        self.services[name].stop(sig=signal.SIGKILL, timeout=10)

    def restart(self, name: str, *, sig: int = signal.SIGKILL, ready_within: float = 60) -> None:
        self.services[name].stop(sig=sig, timeout=20)
        self.start(name)
        self.services[name].wait_ready(timeout=ready_within)

    def crashed(self) -> list[str]:
        """Services (and the stand-in) whose process is no longer running."""
        everything = {"horde-standin": self.standin, **self.services}
        return [name for name, process in everything.items() if not process.running()]

    def not_ready(self) -> list[str]:
        everything = {"horde-standin": self.standin, **self.services}
        return [name for name, process in everything.items() if not _ready(process)]

    def recent_log(self, name: str) -> list[dict[str, Any]]:
        """JSON log lines written by the live process of ``name``."""
        text = self.services[name].log_text().encode()[self.log_marks.get(name, 0) :].decode(errors="replace")
        lines = []
        for line in text.splitlines():
            if line.startswith("{"):
                try:
                    lines.append(json.loads(line))
                except ValueError:
                    continue
        return lines

    def risk_published(self, category: str) -> bool:
        """Some analytics replica logged the risk changes of ``category`` as published."""
        return any(
            line.get("message") == "risk changes published" and line.get("category") == category
            for name in self.analytics()
            for line in self.recent_log(name)
        )

    def logs(self, chars: int = 2500) -> str:
        parts = [f"--- {n}\n{s.log_text()[-chars:]}" for n, s in self.services.items()]
        parts.append(f"--- horde-standin\n{self.standin.log_text()[-chars:]}")
        return "\n".join(parts)

    # -- stand-in ----------------------------------------------------------------------------
    def set_frame(self, index: int) -> None:
        self.http.post(f"{self.standin.base_url}/_control/frame/{index}").raise_for_status()

    def add_faults(self, *faults: dict[str, Any]) -> None:
        self.http.post(f"{self.standin.base_url}/_control/faults", json=list(faults)).raise_for_status()

    def clear_faults(self) -> None:
        self.http.delete(f"{self.standin.base_url}/_control/faults").raise_for_status()

    def standin_requests(self) -> list[dict[str, Any]]:
        answer = self.http.get(f"{self.standin.base_url}/_control/requests")
        answer.raise_for_status()
        requests: list[dict[str, Any]] = answer.json()["requests"]
        return requests

    # -- gateway -----------------------------------------------------------------------------
    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(self.gateway + path, params=params or None)

    def marker(self) -> int | None:
        """The frame the gateway's image answer reflects (``None``: no answer yet)."""
        try:
            answer = self.get(IMAGE_WITH_STATS)
        except httpx.HTTPError:
            return None
        if answer.status_code != 200:
            return None
        return frame_of(answer.json())

    def wait_for_frame(self, index: int, *, within: float) -> float:
        """Seconds until the gateway reflects frame ``index`` (fails after ``within``)."""
        started = time.monotonic()
        wait_until(
            lambda: self.marker() == index, within=within, what=f"frame {index} at the gateway", stack=self
        )
        return time.monotonic() - started


def frame_of(with_stats: dict[str, Any]) -> int | None:
    """The frame a with-stats body reflects: the marked model's thread count (status) and its
    distinct-worker count (workers) must both be that frame's, else ``None``."""
    entry = with_stats.get(MARKED_MODEL)
    if not isinstance(entry, dict) or not isinstance(entry.get("thread_count"), int):
        return None
    frame = int(entry["thread_count"]) - MARK_BASE
    return frame if entry.get("worker_count") == workers_of_frame(frame) else None


def workers_of_frame(index: int) -> int:
    """Distinct image workers serving the marked model in frame ``index``."""
    return index % 3


def _ready(process: ServiceProcess) -> bool:
    try:
        return httpx.get(process.base_url + "/readyz", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(
    condition: Callable[[], Any], *, within: float, what: str, stack: ChaosStack | None = None,
    interval: float = 0.2,
) -> Any:  # fmt: skip
    """Poll ``condition`` until it returns something truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            logs = f"\n{stack.logs()}" if stack is not None else ""
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}{logs}")
        time.sleep(interval)


@contextmanager
def running_stack(
    root: Path,
    *,
    kafka_env: dict[str, str],
    redis_url: str,
    unique: str,
    frames: int = 1,
    extra_frames: list[dict[str, Any]] | None = None,
    replicas: int = 1,
    env: dict[str, str] | None = None,
    standin_rate_limit: int = 100_000,
    standin_rate_window: float | None = None,
    first_frame_within: float = 120,
    wait_for_text: bool = True,
    wait_for_quiet: bool = True,
) -> Iterator[ChaosStack]:
    """Start the stand-in and the services, wait for frame 0 at the gateway (and the text
    deletion risk, the slowest first recompute, and with ``wait_for_quiet`` its ~700 first risk
    events), stop everything on exit."""
    root.mkdir(parents=True, exist_ok=True)
    frames_dir = write_frames(root, frames, extra_frames)
    reference = reference_folder(root, with_clip=True)
    args = ["--data-dir", str(frames_dir), "--reference-dir", str(DATA / "reference"),
            "--rate-limit", str(standin_rate_limit)]  # fmt: skip
    module = "devtools.horde_standin"
    if standin_rate_window is not None:
        module, args = "tests.chaos.standin", [*args, "--rate-window", str(standin_rate_window)]
    standin = start_standin(args, root / "standin.log", module=module)
    services: dict[str, ServiceProcess] = {}
    stack: ChaosStack | None = None
    try:
        full_env = stack_env(
            kafka_env=kafka_env, redis_url=redis_url, prefix=f"chaos{unique}", standin=standin.base_url,
            reference=reference, workers_every=1, stats_every=2, reference_poll_every=1,
        ) | {"HORDE_HORDE_API__TIMEOUT_SECONDS": "5"} | (env or {})  # fmt: skip
        # Started one by one through the stack (it notes each log's size first), not start_services.
        modules: list[tuple[str, str]] = []
        for base, module_name in STACK_SERVICES:
            names = [f"{base}-{n + 1}" for n in range(replicas)] if base == "analytics" else [base]
            modules += [(name, module_name) for name in names]
        services = {
            name: ServiceProcess(name, module, free_port(), full_env, log_path=root / f"{name}.log")
            for name, module in modules
        }
        stack = ChaosStack(
            root, full_env, standin, services, frames_dir, reference, f"chaos{unique}.", f"chaos{unique}"
        )
        for name in services:
            stack.start(name)
        for service in services.values():
            service.wait_ready(timeout=90)
        stack.wait_for_frame(0, within=first_frame_within)
        if wait_for_text:
            # The first text generation publishes a risk event per model (~700): the worker is
            # busy for seconds after the views are readable, and its source-health writes wait.
            wait_until(
                lambda: stack.get(TEXT_RISK).status_code == 200
                and (not wait_for_quiet or stack.risk_published("text_generation")),
                within=first_frame_within, what="the text deletion risk", stack=stack,
            )  # fmt: skip
        yield stack
    finally:
        stop_together([*services.values(), standin], timeout=20)
        if stack is not None:
            stack.http.close()


# ---------------------------------------------------------------------------------------- reader


@dataclass
class Observations:
    """What a reader saw: per generation, the numbers each view showed, and every failure."""

    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    inconsistencies: list[str] = field(default_factory=list)
    #: generation → frame marker and distinct-worker count of the marked model in with-stats.
    with_stats: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    #: generation → worker count of the marked model in the deletion-risk listing.
    risk: dict[str, int | None] = field(default_factory=dict)
    frames_seen: set[int] = field(default_factory=set)


class ConsistencyReader(threading.Thread):
    """Reads with-stats and deletion-risk in a loop and checks that every answer of one
    ``X-Generation`` tells the same story (the marked model's worker counts), that the body's
    generation is the header's, and that nothing answers 5xx."""

    def __init__(self, gateway: str, *, pause: float = 0.02) -> None:
        super().__init__(name="consistency-reader", daemon=True)
        self.gateway = gateway
        self.pause = pause
        self.seen = Observations()
        self.halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.halt.is_set():
                for path in (IMAGE_WITH_STATS, IMAGE_RISK):
                    self._read(client, path)
                self.halt.wait(self.pause)

    def stop(self) -> Observations:
        self.halt.set()
        self.join(timeout=15)
        return self.seen

    def _read(self, client: httpx.Client, path: str) -> None:
        seen = self.seen
        try:
            answer = client.get(self.gateway + path)
        except httpx.HTTPError as error:
            seen.server_errors.append(f"{path}: {type(error).__name__}: {error}")
            return
        seen.requests += 1
        seen.statuses[answer.status_code] = seen.statuses.get(answer.status_code, 0) + 1
        if answer.status_code >= 500:
            seen.server_errors.append(f"{path}: {answer.status_code} {answer.text[:200]}")
            return
        if answer.status_code != 200:
            return
        generation = answer.headers.get("X-Generation", "")
        body = answer.json()
        if path == IMAGE_WITH_STATS:
            entry = body.get(MARKED_MODEL, {})
            numbers = (frame_of(body), entry.get("worker_count"))
            if numbers[0] is not None:
                seen.frames_seen.add(numbers[0])
            known = seen.with_stats.setdefault(generation, numbers)
            if known != numbers:
                seen.inconsistencies.append(f"{generation}: with-stats said {known}, then {numbers}")
            self._compare(generation)
            return
        if body.get("freshness", {}).get("generation") != generation:
            seen.inconsistencies.append(
                f"X-Generation {generation} but body freshness {body.get('freshness', {}).get('generation')}"
            )
        row = next((m for m in body.get("models", []) if m.get("name") == MARKED_MODEL), None)
        count = row.get("worker_count") if row else None
        known_count = seen.risk.setdefault(generation, count)
        if known_count != count:
            seen.inconsistencies.append(f"{generation}: deletion-risk said {known_count}, then {count}")
        self._compare(generation)

    def _compare(self, generation: str) -> None:
        seen = self.seen
        if generation in seen.with_stats and generation in seen.risk:
            with_stats_count = seen.with_stats[generation][1]
            if with_stats_count != seen.risk[generation]:
                message = (
                    f"{generation}: with-stats worker_count {with_stats_count} but deletion-risk "
                    f"{seen.risk[generation]}"
                )
                if message not in seen.inconsistencies:
                    seen.inconsistencies.append(message)
