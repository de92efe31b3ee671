"""``python -m services.reference_watcher`` / ``horde-reference-watcher``: the reference topic's writer."""

from __future__ import annotations

from services.reference_watcher.app import serve
from shared.runtime import bootstrap


def main() -> None:
    """Console-script entry point: the services' one bootstrap (``shared.runtime.bootstrap``)."""
    bootstrap("reference-watcher", serve)


if __name__ == "__main__":
    main()
