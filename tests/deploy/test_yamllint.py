"""yamllint (.yamllint) over every YAML file of the deployment."""

from __future__ import annotations

from yamllint import linter
from yamllint.config import YamlLintConfig

from tests.deploy.checks import ROOT

CONFIG = YamlLintConfig(file=str(ROOT / ".yamllint"))


def deployment_yaml_files() -> list[str]:
    files = [ROOT / "compose.yaml", ROOT / ".yamllint"]
    for folder in ("k8s", "monitoring"):
        files += sorted((ROOT / folder).rglob("*.yaml")) + sorted((ROOT / folder).rglob("*.yml"))
    return [str(f) for f in files]


def lint(path: str) -> list[str]:
    with open(path) as handle:
        return [f"{path}:{p.line}:{p.column} {p.rule} {p.desc}" for p in linter.run(handle, CONFIG, path)]


def test_yamllint() -> None:
    files = deployment_yaml_files()
    assert len(files) > 15
    assert [problem for path in files for problem in lint(path)] == []
