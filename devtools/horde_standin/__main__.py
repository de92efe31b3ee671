"""``python -m devtools.horde_standin``: serve recorded AI Horde data on a local port."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from devtools.horde_standin.app import create_app
from devtools.horde_standin.reference import load_known_models
from devtools.horde_standin.scenario import Scenario
from shared.logging import configure_logging
from shared.runtime import run_process, run_service
from shared.settings import Settings

log = logging.getLogger(__name__)


def parse_args(argv: Sequence[str] | None, settings: Settings) -> argparse.Namespace:
    """Command-line options; defaults come from the settings (``HORDE_`` environment)."""
    parser = argparse.ArgumentParser(prog="horde-standin", description=__doc__)
    parser.add_argument("--host", default=settings.http_host, help="bind address (default %(default)s)")
    parser.add_argument("--port", type=int, default=settings.http_port, help="port (default %(default)s)")
    parser.add_argument(
        "--data-dir", default=settings.standin.data_dir, help="frame folder or folder of frame folders"
    )
    parser.add_argument(
        "--reference-dir",
        default=settings.standin.reference_dir,
        help="legacy reference folder for model_state=known ('' to treat every model as known)",
    )
    parser.add_argument(
        "--advance-every",
        type=float,
        default=settings.standin.advance_every_seconds,
        help="seconds between frames (0: only on POST /_control/advance)",
    )
    parser.add_argument(
        "--rate-limit", type=int, default=settings.standin.rate_limit_per_minute, help="requests per minute"
    )
    return parser.parse_args(argv)


async def _idle(stop: asyncio.Event) -> None:
    """The stand-in has no background work: the HTTP server is everything."""
    await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the exit code (0 after SIGTERM/SIGINT)."""
    settings = Settings()
    configure_logging("horde-standin", settings.log_level, json_lines=settings.log_json)
    args = parse_args(argv, settings)
    known = load_known_models(args.reference_dir) if args.reference_dir else None
    if known is not None and not known:
        log.warning("no reference files found; every model is known", extra={"dir": args.reference_dir})
        known = None
    scenario = Scenario.from_dir(
        Path(args.data_dir), advance_every_seconds=args.advance_every or None, known_models=known
    )
    app = create_app(scenario, rate_limit=args.rate_limit)
    log.info(
        "serving recorded AI Horde data",
        extra={"frames": len(scenario.frames), "data_dir": args.data_dir, "port": args.port},
    )
    return run_process(
        run_service(
            "horde-standin", app, host=args.host, port=args.port, main=_idle, ops_port=settings.ops_port
        )
    )


if __name__ == "__main__":
    raise SystemExit(main())
