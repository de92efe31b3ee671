"""Local stand-in of the AI Horde public API serving recorded data, with faults on command.

Tests and offline runs point the poller at ``http://host:port/api`` instead of the real Horde.
"""

from devtools.horde_standin.app import create_app
from devtools.horde_standin.scenario import Scenario, load_frame, set_model_counts

__all__ = ["Scenario", "create_app", "load_frame", "set_model_counts"]
