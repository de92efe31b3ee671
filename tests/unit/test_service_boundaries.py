"""Services meet only through ``shared/``: no production service imports another service's code.

The dev tooling (``devstack`` starts every service; ``horde_standin`` plays the AI Horde) and
tests and benches may import anything; a service package may import itself and ``shared``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[2] / "services"
DEV_TOOLING = {"devstack", "horde_standin"}
PRODUCTION = sorted(
    p.name for p in SERVICES.iterdir() if (p / "__init__.py").exists() and p.name not in DEV_TOOLING
)


def _imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("service", PRODUCTION)
def test_a_service_imports_only_itself_and_shared(service: str) -> None:
    crossing = sorted(
        f"{path.relative_to(SERVICES)}: {module}"
        for path in (SERVICES / service).rglob("*.py")
        for module in _imported_modules(path)
        if module.startswith("services.") and module.split(".")[1] != service
    )
    assert not crossing, f"services meet only through shared/: {crossing}"


def test_the_gateway_is_among_the_services_checked() -> None:
    assert {"gateway", "analytics", "poller"} <= set(PRODUCTION)
