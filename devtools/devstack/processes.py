"""Service processes for the local stack, the benchmarks and the process tests: start, await ready, stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from devtools.devstack.ports import free_port, wait_until

#: The four services as ``(name, module)`` in start order: the producers before the worker that
#: consumes them, the gateway (which only reads what the worker wrote) last.
STACK_SERVICES: tuple[tuple[str, str], ...] = (
    ("reference-watcher", "services.reference_watcher"),
    ("poller", "services.poller"),
    ("analytics", "services.analytics"),
    ("gateway", "services.gateway"),
)


def http_ok(url: str) -> bool:
    """True when ``url`` answers 2xx within a second."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(200 <= response.status < 300)
    except OSError:
        return False


@dataclass
class ServiceProcess:
    """One service run as ``python -m <module>`` with its own port and environment."""

    name: str
    module: str
    port: int
    env: dict[str, str]
    args: list[str] = field(default_factory=list)
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = (
            os.environ
            | self.env
            | {
                "HORDE_HTTP_PORT": str(self.port),
                "HORDE_HTTP_HOST": "127.0.0.1",
                "HORDE_OPS_PORT": "0",  # probes beside the API: one port per process on this machine
            }
        )
        stdout: IO[bytes] | int = subprocess.DEVNULL
        if self.log_path is not None:
            self._log = self.log_path.open("ab")
            stdout = self._log
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module, *self.args], env=env, stdout=stdout, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout: float = 60) -> None:
        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
            return http_ok(self.base_url + "/readyz")

        wait_until(ready, timeout=timeout, interval=0.2, what=f"{self.name} to be ready")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int | None:
        """Send ``sig`` and wait; SIGKILL if the process does not exit in time."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.process.returncode

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""


def start_services(
    specs: Sequence[tuple[str, str]], env: dict[str, str], log_dir: Path, *, ready_within: float = 90.0
) -> dict[str, ServiceProcess]:
    """Start ``(name, module)`` services, each on a free port and logging to ``log_dir/<name>.log``,
    then wait until each answers ``/readyz``. All start before any is awaited, so their start-ups
    overlap; on any failure the ones started are stopped, so a caller has nothing to clean up."""
    services: dict[str, ServiceProcess] = {}
    try:
        for name, module in specs:
            service = ServiceProcess(name, module, free_port(), env, log_path=log_dir / f"{name}.log")
            services[name] = service
            service.start()
        for service in services.values():
            service.wait_ready(timeout=ready_within)
    except BaseException:
        stop_services(services)
        raise
    return services


def stop_services(services: dict[str, ServiceProcess], timeout: float = 20.0) -> None:
    """SIGTERM in reverse start order (consumers before what they read from), SIGKILL after ``timeout``."""
    for service in reversed(list(services.values())):
        service.stop(timeout=timeout)


def start_standin(
    args: Sequence[str], log_path: Path, *, module: str = "devtools.horde_standin", ready_within: float = 30.0
) -> ServiceProcess:
    """The AI Horde stand-in on a free port, started and ready, logging plain text.

    Stopped again if it does not become ready, so a caller only owns a stand-in that answers."""
    standin = ServiceProcess(
        "horde-standin", module, free_port(), {"HORDE_LOG_JSON": "false"}, args=list(args), log_path=log_path
    )
    standin.start()
    try:
        standin.wait_ready(timeout=ready_within)
    except BaseException:
        standin.stop()
        raise
    return standin
