"""The validators fail on deliberately broken copies of the deployment files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shared.settings import KafkaSettings
from tests.deploy.checks import ROOT, check_compose, check_k8s, check_strimzi_topics, render_overlay
from tests.deploy.kustomize import UnsupportedFeature, render
from tests.deploy.test_yamllint import lint


def _break(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


@pytest.fixture
def k8s_copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "k8s", tmp_path / "k8s")
    return tmp_path / "k8s"


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        ("base/gateway.yaml", "path: /readyz", "path: /ready", "readinessProbe path /ready"),
        ("base/analytics.yaml", "path: /healthz", "path: /livez", "not served by services.analytics"),
        ("base/poller.yaml", "containerPort: 8080", "containerPort: 9000", "HORDE_HTTP_PORT"),
        (
            "base/analytics.yaml",
            "  selector:\n    matchLabels:\n      app.kubernetes.io/name: analytics\n  template",
            "  template",
            "selector",
        ),
        ("base/gateway.yaml", "readinessProbe:", "readinesProbe:", "readinesProbe"),
        ("base/reference-watcher.yaml", "replicas: 2", "replicas: 3", "a leader and a standby"),
        ("base/poller.yaml", "maxUnavailable: 0", "maxUnavailable: 1", "maxUnavailable 0"),
        ("base/analytics.yaml", "replicas: 2", "replicas: 9", "partition count"),
        ("base/poller.yaml", "services.poller", "services.pollr", "names no service module"),
        (
            "base/gateway.yaml",
            "readOnlyRootFilesystem: true",
            "readOnlyRootFilesystem: false",
            "readOnlyRootFilesystem",
        ),
        ("base/config.env", "HORDE_REDIS__KEY_PREFIX=hma\n", "", "HORDE_REDIS__KEY_PREFIX"),
        ("base/config.env", "HORDE_LOG_LEVEL=INFO", "HORDE_LOG_LEVEL=LOUD", "do not parse"),
        (
            "base/config.env",
            "HORDE_LOG_LEVEL=INFO",
            "HORDE_LOG_LEVEL=INFO\nHORDE_REDIS__PASSWORD=x",
            "secret setting",
        ),
        (
            "base/config.env",
            "HORDE_LOG_LEVEL=INFO",
            "HORDE_LOG_LEVEL=INFO\nHORDE_KAFKA__BROKERS=x",
            "not a setting",
        ),
        ("base/poller.yaml", "name: HORDE_HORDE_API__API_KEY", "name: HORDE_HORDE_API__TOKEN", "API_KEY"),
        (
            "base/network-policies.yaml",
            "hma.haidra.org/internet-egress",
            "app.kubernetes.io/part-of",
            "internet",
        ),
        (
            "overlays/prod/patches/analytics.yaml",
            "mountPath: /etc/hma/redis-ca",
            "mountPath: /etc/redis-ca",
            "/etc/hma/redis-ca/ca.crt is not on a mounted volume",
        ),
    ],
)
def test_k8s_validation_fails_on_broken_copy(
    k8s_copy: Path, file: str, old: str, new: str, expected: str
) -> None:
    _break(k8s_copy / file, old, new)
    overlay = "overlays/prod" if file.startswith("overlays/prod") else "base"
    try:
        problems = check_k8s(render_overlay(k8s_copy / overlay), tagged=overlay != "base")
    except Exception as exc:  # a renderer refusing the broken file is a failure too
        problems = [str(exc)]
    assert any(expected in p for p in problems), problems


def test_strimzi_validation_fails_on_missing_topic(k8s_copy: Path) -> None:
    path = k8s_copy / "overlays/strimzi-topics/topics.yaml"
    _break(
        path,
        "  name: horde.workers.captured.v1.dlq\nspec:\n  topicName: horde.workers.captured.v1.dlq",
        "  name: horde.workers.captured.v1-dlq\nspec:\n  topicName: horde.workers.captured.v1-dlq",
    )
    problems = check_strimzi_topics(render(path.parent), KafkaSettings(replication_factor=3))
    assert any("missing ['horde.workers.captured.v1.dlq']" in p for p in problems), problems


def test_renderer_refuses_what_it_does_not_reproduce(k8s_copy: Path) -> None:
    _break(k8s_copy / "base/kustomization.yaml", "labels:\n", "commonLabels:\n  a: b\nlabels:\n")
    with pytest.raises(UnsupportedFeature, match="commonLabels"):
        render(k8s_copy / "base")


@pytest.fixture
def compose_copy(tmp_path: Path) -> Path:
    for name in ("compose.yaml", "compose.offline.env", "Dockerfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "monitoring", tmp_path / "monitoring")
    return tmp_path


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("127.0.0.1:8080/readyz", "127.0.0.1:8080/ready", "healthcheck 8080/ready"),
        (
            "        topic --topic horde.workers.captured.v1.dlq --partitions 1"
            " --config max.message.bytes=16842752\n",
            "",
            "missing ['horde.workers.captured.v1.dlq']",
        ),
        (
            "--config segment.ms=3600000\n        topic --topic horde.model-status.captured.v1.dlq",
            "--config segment.ms=60000\n        topic --topic horde.model-status.captured.v1.dlq",
            "the code creates",
        ),
        (
            "  HORDE_LOG_LEVEL: ${HORDE_LOG_LEVEL:-INFO}\n",
            "  HORDE_LOG_LEVEL: ${HORDE_LOG_LEVEL:-INFO}\n  HORDE_DEBUG: x\n",
            "HORDE_DEBUG is not a setting",
        ),
        ("  HORDE_REDIS__KEY_PREFIX: hma\n", "", "HORDE_REDIS__KEY_PREFIX"),
        ("condition: service_completed_successfully", "condition: service_completed", "condition"),
        ("        required: false\n", "", "without required: false"),
        (
            'command: ["python", "-m", "services.analytics"]',
            'command: ["python", "-m", "services.analytic"]',
            "names no service module",
        ),
        ("    target: runtime", "    target: runtim", "not a stage"),
        ("    retries: 6\n", "    retries: 6\n    retry: 2\n", "healthcheck key retry"),
        ('HORDE_HTTP_PORT: "8080"', 'HORDE_HTTP_PORT: "8081"', "serves 8081"),
        ('  HORDE_KAFKA__TOPIC_PARTITIONS: "4"', '  HORDE_KAFKA__TOPIC_PARTITIONS: "6"', "the code creates"),
        ("--replication-factor 1", "--replication-factor 3", "replication factor"),
        (
            "${HORDE_GATEWAY__CORS_ORIGINS:-[]}",
            "$HORDE_GATEWAY_CORS_ORIGINS",
            "interpolates HORDE_GATEWAY_CORS_ORIGINS",
        ),
    ],
)
def test_compose_validation_fails_on_broken_copy(
    compose_copy: Path, old: str, new: str, expected: str
) -> None:
    _break(compose_copy / "compose.yaml", old, new)
    problems = check_compose(compose_copy)
    assert any(expected in p for p in problems), problems


def test_offline_env_file_is_checked(compose_copy: Path) -> None:
    _break(compose_copy / "compose.offline.env", "horde-standin:8080/api", "horde-standin:8090/api")
    _break(compose_copy / "compose.offline.env", "COMPOSE_PROFILES", "HMA_PROFILES=x\nCOMPOSE_PROFILES")
    problems = check_compose(compose_copy, env_file=compose_copy / "compose.offline.env")
    assert any("offline: the poller calls http://horde-standin:8090/api" in p for p in problems), problems
    assert any("HMA_PROFILES is neither a setting" in p for p in problems), problems


def test_yamllint_fails_on_broken_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("services:\n   gateway:\n     image: x\n  redis: {}\n")
    assert lint(str(path))
