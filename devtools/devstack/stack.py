"""``make run``: the whole system on this machine, with nothing to install by hand.

Starts the embedded Kafka-compatible broker and a local redis-server (unless
``HORDE_KAFKA__BOOTSTRAP_SERVERS`` / ``HORDE_REDIS__URL`` point elsewhere), optionally the AI
Horde stand-in (``--offline``), then the four services as separate processes, waits until all
are ready and keeps running until Ctrl-C / SIGTERM, when it stops everything in reverse order.

``--data <folder>`` (``make run OFFLINE=1 DATA=<folder>``) serves one's own capture: its
``reference/`` is what the watcher reads and the stand-in judges "known" models by, its
``horde_api/`` what the stand-in answers (layout: :mod:`devtools.devstack.capture`). The folder is
checked first; a missing or unreadable file stops the start with an error naming it.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pydantic import ValidationError

from devtools.devstack.broker import probe, start_tansu, stop_process
from devtools.devstack.capture import CaptureError, load_capture
from devtools.devstack.ports import free_port
from devtools.devstack.processes import ServiceProcess
from devtools.devstack.redis_server import ping, start_redis_server
from shared.domain.categories import ModelCategory
from shared.settings import LiveHordeApiSettings, Settings

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "data"


def _port(preferred: int) -> int:
    """``preferred`` if free, else any free port."""
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            return free_port()


def _answers_ping(port: int) -> bool:
    try:
        return ping("127.0.0.1", port)
    except OSError:
        return False


def offline_reference(data: Path | None) -> Path:
    """The reference folder of an offline run: the capture's, else ``HORDE_REFERENCE__FOLDER`` when
    set (never silently overridden), else the recorded fixtures."""
    if data is not None:
        return data / "reference"
    return Path(os.environ.get("HORDE_REFERENCE__FOLDER") or FIXTURES / "reference")


def standin_env(data: Path | None) -> dict[str, str]:
    """The stand-in serves the capture's answers and judges "known" by the same reference."""
    env = {"HORDE_STANDIN__REFERENCE_DIR": str(offline_reference(data))}
    if data is not None:
        env["HORDE_STANDIN__DATA_DIR"] = str(data / "horde_api")
    return env


def service_env(
    *,
    bootstrap: str,
    redis_url: str,
    embedded_broker: bool,
    horde_url: str | None,
    offline: bool,
    data: Path | None = None,
) -> dict[str, str]:
    """Environment shared by the four services of a local stack."""
    env = {
        "HORDE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "HORDE_REDIS__URL": redis_url,
        "HORDE_LOG_JSON": os.environ.get("HORDE_LOG_JSON", "false"),
    }
    if embedded_broker:
        env |= {
            "HORDE_KAFKA__ENABLE_IDEMPOTENCE": "false",
            "HORDE_KAFKA__TRANSACTIONS": "false",
            "HORDE_KAFKA__SESSION_TIMEOUT_MS": "2000",
            "HORDE_KAFKA__HEARTBEAT_INTERVAL_MS": "200",
            "HORDE_KAFKA__REBALANCE_TIMEOUT_MS": "2000",
        }
    if horde_url is not None:
        env["HORDE_HORDE_API__BASE_URL"] = horde_url
    if offline:
        env |= {"HORDE_REFERENCE__SOURCE": "folder", "HORDE_REFERENCE__FOLDER": str(offline_reference(data))}
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--offline",
        action="store_true",
        default=os.environ.get("OFFLINE") == "1",
        help="serve the recorded AI Horde data from the local stand-in (or OFFLINE=1)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="a capture folder (reference/ + horde_api/) to serve offline (make run DATA=<folder>)",
    )
    parser.add_argument("--gateway-port", type=int, default=int(os.environ.get("HORDE_HTTP_PORT", "8080")))
    args = parser.parse_args(argv)
    example = "image_generation"
    capture_env: dict[str, str] = {}
    if args.data is not None:
        args.offline = True
        try:
            capture = load_capture(args.data.resolve())
        except CaptureError as error:
            print(f"capture not usable: {error}", file=sys.stderr)
            return 2
        args.data = capture.folder
        capture_env = capture.styles_env()
        example = next(
            (
                c.value
                for c in (ModelCategory.IMAGE_GENERATION, ModelCategory.TEXT_GENERATION)
                if c in capture.references
            ),
            example,
        )
        print(f"capture {capture.folder}: text reference from {capture.text_source or '-'}")
    if not args.offline:
        # The live poller would refuse too, but only after the broker and Redis have started.
        try:
            LiveHordeApiSettings.model_validate(Settings().horde_api.model_dump())
        except ValidationError as exc:
            print(f"make run: {exc.errors()[0]['msg']} (or run `make run OFFLINE=1`)", file=sys.stderr)
            return 2
    workdir = Path(tempfile.mkdtemp(prefix="hma-stack-"))
    background: list[subprocess.Popen[bytes]] = []
    services: list[ServiceProcess] = []
    try:
        bootstrap = os.environ.get("HORDE_KAFKA__BOOTSTRAP_SERVERS")
        embedded = bootstrap is None
        if bootstrap is None:
            bootstrap, broker, _ = start_tansu(_port(9092))
            background.append(broker)
        elif not probe(bootstrap):
            print(f"Kafka at {bootstrap} does not answer", file=sys.stderr)
            return 1
        redis_url = os.environ.get("HORDE_REDIS__URL")
        if redis_url is None:
            if _answers_ping(6379):
                redis_url = "redis://127.0.0.1:6379/0"  # a Redis the developer already runs
            else:
                redis_url, redis_process = start_redis_server(_port(6379))
                background.append(redis_process)
        horde_url = None
        if args.offline:
            standin = ServiceProcess(
                "horde-standin",
                "devtools.horde_standin",
                _port(8090),
                standin_env(args.data),
                log_path=workdir / "horde-standin.log",
            )
            standin.start()
            standin.wait_ready()
            services.append(standin)
            horde_url = standin.base_url + "/api"
        env = (
            service_env(
                bootstrap=bootstrap,
                redis_url=redis_url,
                embedded_broker=embedded,
                horde_url=horde_url,
                offline=args.offline,
                data=args.data,
            )
            | capture_env
        )
        for name, module, port in (
            ("reference-watcher", "services.reference_watcher", _port(8082)),
            ("poller", "services.poller", _port(8081)),
            ("analytics", "services.analytics", _port(8083)),
            ("gateway", "services.gateway", args.gateway_port),
        ):
            service = ServiceProcess(name, module, port, env, log_path=workdir / f"{name}.log")
            service.start()
            services.append(service)
        for service in services:
            service.wait_ready(timeout=90)
        print(f"kafka {bootstrap} | redis {redis_url} | logs in {workdir}")
        for service in services:
            print(f"  {service.name:<18} {service.base_url}  (ready)")
        print(f"gateway: curl {services[-1].base_url}/model_references/statistics/{example}/with-stats")
        stop = False

        def request_stop(*_: object) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        while not stop:
            for service in services:
                if not service.running():
                    print(f"{service.name} exited; see {service.log_path}", file=sys.stderr)
                    return 1
            time.sleep(0.5)
        return 0
    finally:
        for service in reversed(services):
            service.stop()
        for process in reversed(background):
            stop_process(process)


if __name__ == "__main__":
    sys.exit(main())
