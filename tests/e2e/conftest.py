"""The four services as separate processes against the session's broker and Redis."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.devstack.ports import free_port
from services.devstack.processes import ServiceProcess
from tests.support.events import DATA, SYNTHETIC
from tests.support.kafka_broker import KafkaInfo


@dataclass
class RunningStack:
    """Handles on a running stack: service processes, their logs, and the stand-in's frames."""

    services: dict[str, ServiceProcess]
    standin: ServiceProcess
    frames: Path
    topic_prefix: str
    redis_url: str
    redis_prefix: str

    @property
    def gateway(self) -> str:
        return self.services["gateway"].base_url

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{s.log_text()[-3000:]}" for n, s in self.services.items())


def write_frames(root: Path) -> Path:
    """Frame 0: the synthetic snapshot. Frame 1: the same with `stable_diffusion` on 42 threads."""
    frames = root / "frames"
    first, second = frames / "0", frames / "1"
    shutil.copytree(SYNTHETIC, first)
    second.mkdir()
    status = json.loads((SYNTHETIC / "status_models_image.json").read_text())
    for entry in status:
        if entry["name"] == "stable_diffusion":
            entry["count"] = 42
    (second / "status_models_image.json").write_text(json.dumps(status))
    return frames


def reference_folder(root: Path) -> Path:
    """The current legacy reference (image and text) in the watcher's folder layout."""
    folder = root / "reference"
    (folder / "image").mkdir(parents=True)
    (folder / "text").mkdir()
    shutil.copy(DATA / "reference/image/stable_diffusion.json", folder / "image/stable_diffusion.json")
    shutil.copy(DATA / "reference/text/db.json", folder / "text/db.json")
    return folder


@pytest.fixture
def stack(kafka: KafkaInfo, redis_url: str, unique: str, tmp_path: Path) -> Iterator[RunningStack]:
    frames = write_frames(tmp_path)
    standin = ServiceProcess(
        "horde-standin",
        "services.horde_standin",
        free_port(),
        {"HORDE_LOG_JSON": "false"},
        args=[
            "--data-dir",
            str(frames),
            "--reference-dir",
            str(DATA / "reference"),
            "--rate-limit",
            "100000",
        ],
        log_path=tmp_path / "standin.log",
    )
    standin.start()
    standin.wait_ready(timeout=30)
    env = kafka.env() | {
        "HORDE_KAFKA__TOPIC_PREFIX": f"e2e{unique}.",
        "HORDE_REDIS__URL": redis_url,
        "HORDE_REDIS__KEY_PREFIX": f"e2e{unique}",
        "HORDE_ANALYTICS__CONSUMER_GROUP": f"e2e{unique}",
        "HORDE_LOG_JSON": "true",
        "HORDE_HORDE_API__BASE_URL": standin.base_url + "/api",
        "HORDE_HORDE_API__STATUS_INTERVAL_SECONDS": "1",
        "HORDE_HORDE_API__WORKERS_INTERVAL_SECONDS": "3",
        "HORDE_HORDE_API__STATS_INTERVAL_SECONDS": "3",
        "HORDE_HORDE_API__MAX_REQUESTS_PER_MINUTE": "600",
        "HORDE_REFERENCE__SOURCE": "folder",
        "HORDE_REFERENCE__FOLDER": str(reference_folder(tmp_path)),
        "HORDE_REFERENCE__POLL_INTERVAL_SECONDS": "2",
    }
    services = {
        name: ServiceProcess(name, module, free_port(), env, log_path=tmp_path / f"{name}.log")
        for name, module in (
            ("reference-watcher", "services.reference_watcher"),
            ("poller", "services.poller"),
            ("analytics", "services.analytics"),
            ("gateway", "services.gateway"),
        )
    }
    try:
        for service in services.values():
            service.start()
        for service in services.values():
            service.wait_ready(timeout=60)
        yield RunningStack(services, standin, frames, f"e2e{unique}.", redis_url, f"e2e{unique}")
    finally:
        for service in services.values():
            service.stop()
        standin.stop()
