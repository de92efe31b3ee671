"""A restartable single-node Apache Kafka (KRaft) on loopback, for tests that stop the broker.

It wraps ``.ci/start-kafka`` (jars from Maven Central, fetched once into ``<workdir>/libs``): the
first ``start`` formats the storage and picks free ports; ``restart`` stops the broker and starts
it again with the same ``server.properties``, so the address and every record survive. The
session broker of CI is never touched: each ``KafkaProcess`` owns its work directory and pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from devtools.devstack.broker import probe

REPO = Path(__file__).resolve().parents[2]
START_SCRIPT = REPO / ".ci" / "start-kafka"
#: Where CI keeps the jars it already downloaded (reused instead of asking Maven again).
CI_LIBS = REPO / ".ci" / "work" / "kafka" / "libs"


def unavailable_reason(libs: Path | None = None) -> str | None:
    """Why a local Apache Kafka cannot be started here (``None``: it can)."""
    if shutil.which("java") is None:
        return "java is not installed"
    ready = [p for p in (libs, CI_LIBS) if p is not None and (p / ".complete").is_file()]
    if not ready and shutil.which("mvn") is None:
        return "maven is not installed and no downloaded Kafka jars were found"
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its new parent) no longer serves anything.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return True


@dataclass
class KafkaProcess:
    """One Apache Kafka broker in ``workdir``; ``bootstrap`` is set once it answers."""

    workdir: Path
    #: A folder holding the jars already (``.complete`` marker), linked instead of downloading.
    libs: Path | None = None
    bootstrap: str | None = None
    pid: int | None = field(default=None, repr=False)

    def start(self, *, timeout: float = 240) -> str:
        """Format the storage, start the broker on free ports and wait until it answers."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._link_libs()
        return self._run([], timeout)

    def restart(self, *, timeout: float = 120) -> str:
        """Stop the broker (if running) and start it again on the same ports and data."""
        self.stop()
        return self._run(["--restart"], timeout)

    def start_again(self, *, timeout: float = 120) -> str:
        """Start a stopped broker on the same ports and data (``restart`` without the stop)."""
        return self._run(["--restart"], timeout)

    def stop(self, *, sig: int = signal.SIGTERM, timeout: float = 60) -> float:
        """Send ``sig`` to the broker and wait until it exited (SIGKILL after ``timeout``).

        Returns the seconds the shutdown took.
        """
        started = time.monotonic()
        pid = self.pid
        if pid is None or not _alive(pid):
            return 0.0
        os.kill(pid, sig)
        deadline = started + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            kill_deadline = time.monotonic() + 10
            while _alive(pid) and time.monotonic() < kill_deadline:
                time.sleep(0.1)
        return time.monotonic() - started

    def running(self) -> bool:
        return self.pid is not None and _alive(self.pid)

    def answering(self) -> bool:
        return self.bootstrap is not None and probe(self.bootstrap)

    def log_tail(self, chars: int = 4000) -> str:
        path = self.workdir / "kafka.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def _link_libs(self) -> None:
        target = self.workdir / "libs"
        if target.exists():
            return
        for candidate in (self.libs, CI_LIBS):
            if candidate is not None and (candidate / ".complete").is_file():
                target.symlink_to(candidate.resolve(), target_is_directory=True)
                return

    def _run(self, args: list[str], timeout: float) -> str:
        try:
            done = subprocess.run(
                ["bash", str(START_SCRIPT), str(self.workdir), *args],
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            self._read_pid()
            self.stop(sig=signal.SIGKILL, timeout=5)
            raise RuntimeError(f"Apache Kafka did not start within {timeout:.0f} s") from error
        self._read_pid()
        if done.returncode != 0:
            reason = done.stderr.decode(errors="replace")[-2000:]
            raise RuntimeError(f"Apache Kafka did not start ({done.returncode}): {reason}")
        self.bootstrap = done.stdout.decode().strip().splitlines()[-1]
        return self.bootstrap

    def _read_pid(self) -> None:
        path = self.workdir / "kafka.pid"
        if path.exists():
            self.pid = int(path.read_text().strip())
