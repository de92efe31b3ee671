"""The four services start the same way (issue 15): ``__main__`` → ``shared.runtime.bootstrap`` →
the app module's ``serve(settings)``, which runs the service with ``run_service``."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("poller", "reference_watcher", "analytics", "gateway")


@pytest.mark.parametrize("service", SERVICES)
def test_every_main_is_the_one_bootstrap_of_its_apps_serve(service: str) -> None:
    tree = ast.parse((ROOT / "services" / service / "__main__.py").read_text())
    calls = [
        n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "bootstrap"
    ]
    assert len(calls) == 1
    served = calls[0].args[1]
    assert isinstance(served, ast.Name)
    assert served.id == "serve"
    imported = {a.name: n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert imported["serve"] == f"services.{service}.app"
    assert imported["bootstrap"] == "shared.runtime"
    serve = importlib.import_module(f"services.{service}.app").serve
    assert inspect.iscoroutinefunction(serve)
    assert "run_service(" in inspect.getsource(serve)
    assert next(iter(inspect.signature(serve).parameters)) == "settings"


def test_settings_that_do_not_validate_exit_2_before_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.runtime import bootstrap

    monkeypatch.setenv("HORDE_KAFKA__TOPIC_PARTITIONS", "many")

    async def never(_: object) -> int:
        raise AssertionError("serve must not run")

    with pytest.raises(SystemExit) as stopped:
        bootstrap("analytics", never)
    assert stopped.value.code == 2
