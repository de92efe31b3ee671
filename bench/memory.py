"""Peak memory of every service process during a short full-stack run on the recorded data.

    python -m bench.memory [--seconds 20] [--advances 3] [--json PATH]

Why: each service is its own container with its own memory limit (``k8s/``), so the figure that
matters is the peak resident set of each process under realistic work, not a Python-level
allocation count. This runs the whole offline stack as ``make run OFFLINE=1`` does: the AI Horde
stand-in serving the synthetic snapshot (frame 0) and ``--advances`` later frames (each changes
thread counts, so the poller publishes and the worker recomputes), the reference-watcher on the
fixture reference folder, the poller with fast intervals (status 1 s, workers and stats 3 s), the
analytics worker and the gateway, against the embedded broker (or ``KAFKA_BOOTSTRAP_SERVERS``)
and a loopback redis-server. For ``--seconds`` it advances the stand-in evenly and keeps asking
the gateway for every kind of answer (with-stats with and without workers, deletion risk grouped,
with a preset, paged, gzip, one model, statistics), then reads ``VmHWM`` (peak RSS) and
``VmRSS`` from ``/proc/<pid>/status`` of every process before stopping them. Bounded: start-up
90 s, first answer 120 s, the run itself ``--seconds``.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from bench.freshness import REPO, SYNTHETIC, infrastructure, stack_env
from devtools.devstack.ports import free_port
from devtools.devstack.processes import STACK_SERVICES, ServiceProcess, start_services, stop_services

DATA = REPO / "tests" / "fixtures" / "data"
DEFAULT_JSON = REPO / "bench" / "results" / "memory.json"
P = "/model_references/statistics"
#: Gateway requests issued round-robin during the run (every cache and code path of a reader).
REQUESTS: tuple[tuple[str, dict[str, str]], ...] = (
    (f"{P}/image_generation/with-stats", {}),
    (f"{P}/image_generation/with-stats?include_workers=true", {}),
    (f"{P}/image_generation/with-stats", {"accept-encoding": "gzip"}),
    (f"{P}/text_generation/deletion-risk", {}),
    (f"{P}/text_generation/deletion-risk?group_text_models=true", {}),
    (f"{P}/text_generation/deletion-risk?preset=deletion_candidates&limit=50", {}),
    (f"{P}/text_generation/deletion-risk?search=llama&sort_by=usage_month", {}),
    (f"{P}/text_generation/with-stats?format=csv", {}),
    (f"{P}/image_generation/deletion-risk/stable_diffusion", {}),
    (f"{P}/text_generation", {}),
    (f"{P}/controlnet", {}),
)
#: Order of services in the report.
SERVICES = ("horde-standin", "reference-watcher", "poller", "analytics", "gateway")


def write_frames(root: Path, advances: int) -> Path:
    """Frame 0 = the synthetic snapshot; frame k changes image and text thread counts by k."""
    frames = root / "frames"
    shutil.copytree(SYNTHETIC, frames / "0")
    image = json.loads((SYNTHETIC / "status_models_image.json").read_text(encoding="utf-8"))
    text = json.loads((SYNTHETIC / "status_models_text.json").read_text(encoding="utf-8"))
    for k in range(1, advances + 1):
        for entries in (image, text):
            for entry in entries[:10]:
                entry["count"] = int(entry["count"]) + 1
        frame = frames / str(k)
        frame.mkdir()
        (frame / "status_models_image.json").write_text(json.dumps(image), encoding="utf-8")
        (frame / "status_models_text.json").write_text(json.dumps(text), encoding="utf-8")
    return frames


def proc_memory(pid: int) -> dict[str, float]:
    """``VmHWM`` (peak resident set) and ``VmRSS`` of a process, in MiB (empty if it is gone)."""
    found: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                name, _, value = line.partition(":")
                if name in ("VmHWM", "VmRSS"):
                    found[name] = round(int(value.split()[0]) / 1024, 1)
    except OSError:
        return {}
    return found


def wait_answers(gateway: str, within: float) -> None:
    """Until the gateway serves image with-stats and text deletion risk (both categories computed)."""
    deadline = time.monotonic() + within
    urls = (f"{P}/image_generation/with-stats", f"{P}/text_generation/deletion-risk")
    with httpx.Client(base_url=gateway, timeout=5) as client:
        while time.monotonic() < deadline:
            try:
                if all(client.get(url).status_code == 200 for url in urls):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
    raise TimeoutError(f"the gateway did not answer both categories within {within:.0f} s")


def drive(gateway: str, standin: str, seconds: float, advances: int) -> dict[str, Any]:
    """Advance the stand-in evenly over ``seconds`` while reading the gateway; returns counts."""
    started = time.monotonic()
    advance_at = [started + seconds * k / (advances + 1) for k in range(1, advances + 1)]
    generations: set[str] = set()
    requests = errors = advanced = 0
    with httpx.Client(base_url=gateway, timeout=10) as client:
        while time.monotonic() - started < seconds:
            if advance_at and time.monotonic() >= advance_at[0]:
                advance_at.pop(0)
                httpx.post(standin + "/_control/advance", timeout=5).raise_for_status()
                advanced += 1
            for url, headers in REQUESTS:
                try:
                    response = client.get(url, headers=headers)
                except httpx.HTTPError:
                    errors += 1
                    continue
                requests += 1
                errors += response.status_code != 200
                if "image_generation/with-stats" in url and "X-Generation" in response.headers:
                    generations.add(response.headers["X-Generation"])
            time.sleep(0.1)
    return {
        "requests": requests,
        "errors": errors,
        "advances": advanced,
        "image_generations_seen": len(generations),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the stack, drive it, read every process's memory, stop everything."""
    unique = f"benchm{uuid.uuid4().hex[:8]}"
    with infrastructure("hma-memory") as infra:
        frames = write_frames(infra.workdir, args.advances)
        standin = ServiceProcess(
            "horde-standin",
            "devtools.horde_standin",
            free_port(),
            {"HORDE_LOG_JSON": "true"},
            args=[
                "--data-dir",
                str(frames),
                "--reference-dir",
                str(DATA / "reference"),
                "--rate-limit",
                "100000",
            ],
            log_path=infra.workdir / "horde-standin.log",
        )
        standin.start()
        services: dict[str, ServiceProcess] = {}
        try:
            standin.wait_ready(timeout=60)
            env = stack_env(infra, unique, horde_url=standin.base_url + "/api", offline=True) | {
                "HORDE_HORDE_API__STATUS_INTERVAL_SECONDS": "1",
                "HORDE_HORDE_API__WORKERS_INTERVAL_SECONDS": "3",
                "HORDE_HORDE_API__STATS_INTERVAL_SECONDS": "3",
                "HORDE_HORDE_API__MAX_REQUESTS_PER_MINUTE": "600",
                "HORDE_REFERENCE__POLL_INTERVAL_SECONDS": "2",
            }
            services = start_services(STACK_SERVICES, env, infra.workdir)
            gateway = services["gateway"].base_url
            wait_answers(gateway, within=120)
            activity = drive(gateway, standin.base_url, args.seconds, args.advances)
            processes = {"horde-standin": standin, **services}
            memory = {}
            for name in SERVICES:
                process = processes[name].process
                assert process is not None
                memory[name] = {"pid": process.pid, **proc_memory(process.pid)}
            for name, popen in infra.started.items():
                memory[name] = {"pid": popen.pid, **proc_memory(popen.pid), "infrastructure": True}
        except Exception:
            for name, service in {"horde-standin": standin, **services}.items():
                print(f"--- {name} log tail\n{service.log_text()[-2000:]}", file=sys.stderr)
            raise
        finally:
            stop_services(services)
            standin.stop()
    return {
        "what": "peak resident set (VmHWM) and resident set at the end (VmRSS) of each process, MiB",
        "data": "offline stack on the recorded data: stand-in serving the synthetic snapshot + "
        f"{args.advances} frame advances, fixture reference folder, fast poll intervals",
        "broker": infra.broker_kind,
        "settings": {"seconds": args.seconds, "advances": args.advances},
        "activity": activity,
        "python": platform.python_version(),
        "processes": memory,
    }


def format_table(result: dict[str, Any]) -> str:
    """Markdown table: one row per process."""
    lines = ["| process | peak RSS MiB (VmHWM) | RSS at end MiB |", "| --- | --: | --: |"]
    for name, entry in result["processes"].items():
        label = f"{name} (infrastructure)" if entry.get("infrastructure") else name
        lines.append(f"| {label} | {entry.get('VmHWM', '-')} | {entry.get('VmRSS', '-')} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20, help="length of the driven run")
    parser.add_argument("--advances", type=int, default=3, help="stand-in frame advances during the run")
    parser.add_argument("--json", default=str(DEFAULT_JSON), help="results file ('' to skip)")
    args = parser.parse_args(argv)
    result = run(args)
    activity = result["activity"]
    print(
        f"broker: {result['broker']}; {args.seconds:g} s, {activity['advances']} advances, "
        f"{activity['requests']} gateway requests ({activity['errors']} not 200), "
        f"{activity['image_generations_seen']} image generations seen"
    )
    print(format_table(result))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
