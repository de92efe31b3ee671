"""A real Redis for the test session: ``REDIS_URL``, testcontainers, or a local redis-server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile

from devtools.devstack.ports import free_port, wait_until


def ping(host: str, port: int) -> bool:
    """Raw ``PING`` → ``+PONG``."""
    with socket.create_connection((host, port), timeout=1) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")


def start_redis_server(port: int | None = None) -> tuple[str, subprocess.Popen[bytes]]:
    """Run redis-server in the foreground (no persistence) on ``port`` or a free one; returns its URL.

    Passing the port of a stopped server starts an empty one at the same address (a Redis restart).
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    port = port or free_port()
    workdir = tempfile.mkdtemp(prefix="redis-")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: process.poll() is None and ping("127.0.0.1", port), timeout=10, what="redis-server")
    return f"redis://127.0.0.1:{port}/0", process
