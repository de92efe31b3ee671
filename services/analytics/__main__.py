"""``python -m services.analytics`` / ``horde-analytics``: one analytics worker replica."""

from __future__ import annotations

import asyncio
import sys

from services.analytics.app import run
from shared.logging import configure_logging
from shared.settings import Settings


def main() -> None:
    settings = Settings()
    configure_logging("analytics", settings.log_level, json_lines=settings.log_json)
    sys.exit(asyncio.run(run(settings)))


if __name__ == "__main__":
    main()
