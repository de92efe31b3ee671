"""The live AI Horde is only called with an operator contact (issue 19): a settings error, at start."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from services.poller.app import serve
from shared.settings import HordeApiSettings, LiveHordeApiSettings, Settings, polls_live_horde


@pytest.mark.parametrize("contact", ["", "unknown", "  Unknown "])
def test_live_horde_without_contact_is_a_settings_error(contact: str) -> None:
    with pytest.raises(ValidationError, match="HORDE_HORDE_API__CONTACT") as caught:
        LiveHordeApiSettings(base_url="https://aihorde.net/api", contact=contact)
    assert "e-mail address or Discord handle" in str(caught.value)


def test_contact_is_only_required_for_the_live_horde() -> None:
    assert LiveHordeApiSettings(base_url="http://127.0.0.1:8090/api").contact == ""
    assert LiveHordeApiSettings(base_url="http://horde-standin:8080/api").contact == ""
    assert LiveHordeApiSettings(contact="ops@haidra.example").contact == "ops@haidra.example"
    assert polls_live_horde("https://stablehorde.aihorde.net/api")
    assert not polls_live_horde("https://aihorde.net.example.org/api")
    # Other services read the same settings and never call the AI Horde: no error for them.
    assert HordeApiSettings().contact == ""


async def test_poller_refuses_before_any_connection() -> None:
    """``serve`` validates first: no broker address is even resolved (it points nowhere here)."""
    settings = Settings(horde_api=HordeApiSettings(contact="unknown"))
    with pytest.raises(ValidationError, match="HORDE_HORDE_API__CONTACT"):
        await serve(settings)


def test_poller_process_exits_2_with_the_message() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HORDE_")}
    env["HORDE_LOG_JSON"] = "false"
    done = subprocess.run(
        [sys.executable, "-m", "services.poller"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "HORDE_HORDE_API__CONTACT is ''" in done.stderr
    assert "live AI Horde at https://aihorde.net/api" in done.stderr


def test_make_run_live_stops_before_starting_anything(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``make run`` (live) names the missing contact before it starts a broker or Redis."""
    from devtools.devstack import stack

    for key in [k for k in os.environ if k.startswith("HORDE_")]:
        monkeypatch.delenv(key)
    monkeypatch.delenv("OFFLINE", raising=False)
    assert stack.main([]) == 2
    assert "HORDE_HORDE_API__CONTACT" in capsys.readouterr().err
