"""``python -m services.gateway`` / ``horde-gateway``: the HTTP API on ``HORDE_HTTP_PORT`` (8080),
probes and metrics on ``HORDE_OPS_PORT`` when it is set."""

from __future__ import annotations

import asyncio
import sys

from services.gateway.app import create_app
from shared import tracing
from shared.logging import configure_logging
from shared.runtime import run_process, run_service
from shared.settings import Settings


def main() -> None:
    settings = Settings()
    configure_logging("gateway", settings.log_level, json_lines=settings.log_json)
    tracing.configure("gateway")

    async def idle(stop: asyncio.Event) -> None:
        await stop.wait()
        hub = getattr(app.state, "stream_hub", None)
        if hub is not None:  # end the endless responses before the server waits for them
            hub.end_streams()

    app = tracing.instrument_asgi(create_app(settings))  # unwrapped while tracing is off
    sys.exit(
        run_process(
            run_service(
                "gateway",
                app,
                host=settings.http_host,
                port=settings.http_port,
                main=idle,
                ops_port=settings.ops_port,
            )
        )
    )


if __name__ == "__main__":
    main()
