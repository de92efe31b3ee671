"""Entry point: ``horde-poller`` or ``python -m services.poller``."""

from __future__ import annotations

from services.poller.app import main

if __name__ == "__main__":
    main()
