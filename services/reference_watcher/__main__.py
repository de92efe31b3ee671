"""``horde-reference-watcher``: settings from the environment, JSON logs, exit code of the service."""

from __future__ import annotations

import sys

from services.reference_watcher.app import serve
from shared import tracing
from shared.logging import configure_logging
from shared.runtime import run_process
from shared.settings import Settings


def main() -> None:
    """Console-script entry point."""
    settings = Settings()
    configure_logging("reference-watcher", settings.log_level, json_lines=settings.log_json)
    tracing.configure("reference-watcher")
    sys.exit(run_process(serve(settings)))


if __name__ == "__main__":
    main()
