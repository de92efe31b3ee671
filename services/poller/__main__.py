"""``python -m services.poller`` / ``horde-poller``: polls the AI Horde, publishes snapshots on change."""

from __future__ import annotations

from services.poller.app import check_settings, serve
from shared.runtime import bootstrap


def main() -> None:
    """Console-script entry point: the services' one bootstrap (``shared.runtime.bootstrap``)."""
    bootstrap("poller", serve, check=check_settings)


if __name__ == "__main__":
    main()
