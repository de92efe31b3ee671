"""``python -m services.analytics`` / ``horde-analytics``: one analytics worker replica."""

from __future__ import annotations

import sys

from services.analytics.app import run
from shared import tracing
from shared.logging import configure_logging
from shared.runtime import run_process
from shared.settings import Settings


def main() -> None:
    settings = Settings()
    configure_logging("analytics", settings.log_level, json_lines=settings.log_json)
    tracing.configure("analytics")
    sys.exit(run_process(run(settings)))


if __name__ == "__main__":
    main()
