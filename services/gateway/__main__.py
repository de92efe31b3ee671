"""``python -m services.gateway`` / ``horde-gateway``: the HTTP API on ``HORDE_HTTP_PORT`` (8080),
probes and metrics on ``HORDE_OPS_PORT`` when it is set."""

from __future__ import annotations

from services.gateway.app import serve
from shared.runtime import bootstrap


def main() -> None:
    """Console-script entry point: the services' one bootstrap (``shared.runtime.bootstrap``)."""
    bootstrap("gateway", serve)


if __name__ == "__main__":
    main()
