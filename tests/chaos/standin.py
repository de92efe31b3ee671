"""The AI Horde stand-in with a shorter rate-limit window (``python -m tests.chaos.standin``).

Same options as ``python -m devtools.horde_standin`` plus ``--rate-window`` (seconds). The chaos
suite compresses time (1 s polls instead of 20 s); a 429 storm's ``X-RateLimit-Reset`` then has
to be compressed too, or every scenario would wait out the real Horde's one-minute window.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from devtools.horde_standin.__main__ import _idle, parse_args
from devtools.horde_standin.app import create_app
from devtools.horde_standin.reference import load_known_models
from devtools.horde_standin.scenario import Scenario
from shared.logging import configure_logging
from shared.runtime import run_service
from shared.settings import Settings


def main() -> int:
    settings = Settings()
    configure_logging("horde-standin", settings.log_level, json_lines=settings.log_json)
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--rate-window", type=float, default=60.0)
    known_args, rest = extra.parse_known_args(sys.argv[1:])
    args = parse_args(rest, settings)
    known = load_known_models(args.reference_dir) if args.reference_dir else None
    scenario = Scenario.from_dir(
        Path(args.data_dir), advance_every_seconds=args.advance_every or None, known_models=known or None
    )
    app = create_app(scenario, rate_limit=args.rate_limit, rate_window_seconds=known_args.rate_window)
    return asyncio.run(run_service("horde-standin", app, host=args.host, port=args.port, main=_idle))


if __name__ == "__main__":
    raise SystemExit(main())
