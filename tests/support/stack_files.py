"""What a process stack in the tests needs besides its processes: the reference folder and the environment.

Shared by the end-to-end fixture and the chaos suite, so both run (and stop) the services the same way.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from devtools.devstack.processes import ServiceProcess
from tests.support.events import DATA


def reference_folder(root: Path, *, with_clip: bool) -> Path:
    """The current legacy reference (image and text generation) in the watcher's folder layout;
    ``with_clip`` adds clip, a category without AI Horde data."""
    folder = root / "reference"
    (folder / "image").mkdir(parents=True)
    (folder / "text").mkdir()
    shutil.copy(DATA / "reference/image/stable_diffusion.json", folder / "image/stable_diffusion.json")
    if with_clip:
        shutil.copy(DATA / "reference/image/clip.json", folder / "image/clip.json")
    shutil.copy(DATA / "reference/text/db.json", folder / "text/db.json")
    return folder


def stack_env(
    *,
    kafka_env: dict[str, str],
    redis_url: str,
    prefix: str,
    standin: str,
    reference: Path,
    workers_every: int,
    stats_every: int,
    reference_poll_every: int,
) -> dict[str, str]:
    """Environment of the four services: topics, keys and consumer group under ``prefix`` (so
    stacks share a broker and Redis unseen), the stand-in at ``standin`` as the Horde, the folder
    ``reference`` as the reference source, and poll intervals in seconds far below production's."""
    return kafka_env | {
        "HORDE_KAFKA__TOPIC_PREFIX": f"{prefix}.",
        "HORDE_REDIS__URL": redis_url,
        "HORDE_REDIS__KEY_PREFIX": prefix,
        "HORDE_ANALYTICS__CONSUMER_GROUP": prefix,
        "HORDE_LOG_JSON": "true",
        "HORDE_HORDE_API__BASE_URL": standin + "/api",
        "HORDE_HORDE_API__STATUS_INTERVAL_SECONDS": "1",
        "HORDE_HORDE_API__WORKERS_INTERVAL_SECONDS": str(workers_every),
        "HORDE_HORDE_API__STATS_INTERVAL_SECONDS": str(stats_every),
        "HORDE_HORDE_API__MAX_REQUESTS_PER_MINUTE": "600",
        "HORDE_REFERENCE__SOURCE": "folder",
        "HORDE_REFERENCE__FOLDER": str(reference),
        "HORDE_REFERENCE__POLL_INTERVAL_SECONDS": str(reference_poll_every),
    }


def stop_together(services: Iterable[ServiceProcess], *, timeout: float = 20.0) -> None:
    """SIGTERM every running process at once, then wait for each; SIGKILL what still runs ``timeout``
    seconds after its SIGTERM (as ``stop_services`` does, one process at a time).

    The services do not need each other to stop (each finishes its own step, commits, leaves its
    group), so a test stack's shutdowns overlap instead of queueing: 1.5-5 s less per stack.
    Each process gets exactly one SIGTERM: a second one must not cut a graceful stop short."""
    stopping = [service for service in services if service.process is not None]
    for service in stopping:
        if service.process is not None and service.process.poll() is None:
            service.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for service in stopping:
        assert service.process is not None
        try:
            service.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait(timeout=5)
        service.stop()  # exited: only closes its log
