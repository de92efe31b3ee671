"""The four services as separate processes against the session's broker and Redis."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.devstack.processes import (
    STACK_SERVICES,
    ServiceProcess,
    start_services,
    start_standin,
)
from tests.support.events import DATA, SYNTHETIC
from tests.support.kafka_broker import KafkaInfo
from tests.support.stack_files import reference_folder, stack_env, stop_together


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


@pytest.fixture
def stack(kafka: KafkaInfo, redis_url: str, unique: str, tmp_path: Path) -> Iterator[RunningStack]:
    frames = write_frames(tmp_path)
    args = ["--data-dir", str(frames), "--reference-dir", str(DATA / "reference"), "--rate-limit", "100000"]
    standin = start_standin(args, tmp_path / "standin.log")
    try:
        env = stack_env(
            kafka_env=kafka.env(),
            redis_url=redis_url,
            prefix=f"e2e{unique}",
            standin=standin.base_url,
            reference=reference_folder(tmp_path, with_clip=False),
            workers_every=3,
            stats_every=3,
            reference_poll_every=2,
        )
        services = start_services(STACK_SERVICES, env, tmp_path, ready_within=60)
        try:
            yield RunningStack(services, standin, frames, f"e2e{unique}.", redis_url, f"e2e{unique}")
        finally:
            stop_together(services.values())
    finally:
        standin.stop()
