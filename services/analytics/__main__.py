"""``python -m services.analytics`` / ``horde-analytics``: one analytics worker replica."""

from __future__ import annotations

from services.analytics.app import serve
from shared.runtime import bootstrap


def main() -> None:
    """Console-script entry point: the services' one bootstrap (``shared.runtime.bootstrap``)."""
    bootstrap("analytics", serve)


if __name__ == "__main__":
    main()
