"""The validators fail on deliberately broken copies of the deployment files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shared.settings import KafkaSettings
from tests.deploy.checks import (
    ROOT,
    check_compose,
    check_k8s,
    check_kafka_users,
    check_schemas,
    check_strimzi_cluster,
    check_strimzi_topics,
    render_overlay,
)
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
        ("base/poller.yaml", "containerPort: 8081", "containerPort: 9000", "lacks the ops port 8081"),
        ("base/gateway.yaml", "containerPort: 8080", "containerPort: 9000", "HORDE_HTTP_PORT"),
        ("base/config.env", "HORDE_OPS_PORT=8081", "HORDE_OPS_PORT=0", "must separate probes and metrics"),
        (
            "base/analytics.yaml",
            "              port: ops\n",
            "              port: http\n",
            "not the ops port 8081",
        ),
        (
            "base/network-policies.yaml",
            "          port: 8081",
            "          port: 8080",
            "monitoring namespace cannot scrape",
        ),
        (
            "base/network-policies.yaml",
            "  ingress:\n    - ports:\n        - protocol: TCP\n          port: 8080",
            "  ingress:\n    - ports:\n        - protocol: TCP\n          port: 8081",
            "open beyond the monitoring namespace",
        ),
        ("base/gateway.yaml", "          lifecycle:\n", "          lifecycl:\n", "lifecycl"),
        ("base/gateway.yaml", "            preStop:\n", "            postStart:\n", "preStop"),
        (
            "base/analytics.yaml",
            "      topologySpreadConstraints:",
            "      topologySpreadConstraint:",
            "topology",
        ),
        ("base/analytics.yaml", "              ephemeral-storage: 64Mi\n", "", "ephemeral-storage"),
        ("base/poller.yaml", "          imagePullPolicy: Always\n", "", "imagePullPolicy"),
        (
            "overlays/prod/config.env",
            "HORDE_HORDE_API__CONTACT=ops@example.org",
            "HORDE_HORDE_API__CONTACT=unknown",
            "would refuse to start",
        ),
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
    path = k8s_copy / "overlays/strimzi/topics.yaml"
    _break(
        path,
        "  name: horde.workers.captured.v1.dlq\nspec:\n  topicName: horde.workers.captured.v1.dlq",
        "  name: horde.workers.captured.v1-dlq\nspec:\n  topicName: horde.workers.captured.v1-dlq",
    )
    problems = check_strimzi_topics(render_overlay(path.parent), KafkaSettings(replication_factor=3))
    assert any("missing ['horde.workers.captured.v1.dlq']" in p for p in problems), problems


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        (
            "topics.yaml",
            "apiVersion: kafka.strimzi.io/v1\n",
            "apiVersion: kafka.strimzi.io/v1beta2\n",
            "v1beta2",
        ),
        ("topics.yaml", "  replicas: 3\n", "  replicas: 0\n", "less than the minimum"),
        ("topics.yaml", "  partitions: 4\n", "  partition: 4\n", "'partition' was unexpected"),
        ("topics.yaml", '    min.insync.replicas: "2"\n', "", "config"),
        ("users.yaml", "    type: scram-sha-512\n", "    type: scram\n", "'scram' is not one of"),
        (
            "users.yaml",
            "operations: [Describe, Write]",
            "operations: [Describe, Write, Read]",
            "more than it needs",
        ),
        ("users.yaml", "operations: [Describe, Write]", "operations: [Describe, All]", "more than it needs"),
        (
            "users.yaml",
            "name: analytics.views\n",
            "name: analytics.\n          patternType: prefix\n",
            "literal",
        ),
        (
            "users.yaml",
            "        operations: [Describe, Read, Write]\n---",
            "        operations: [Describe, Read]\n---",
            "missing",
        ),
        (
            "kafka.yaml",
            "      min.insync.replicas: 2\n",
            "      min.insync.replicas: 1\n",
            "min.insync.replicas 2",
        ),
        ("kafka.yaml", "    authorization:\n      type: simple\n", "", "ACLs are not enforced"),
        ("kafka.yaml", "        tls: true\n", "        tls: false\n", "not SCRAM over TLS"),
        ("kafka.yaml", "  replicas: 3\n", "  replicas: 1\n", "brokers < replication factor"),
    ],
)
def test_strimzi_validation_fails_on_broken_copy(
    k8s_copy: Path, file: str, old: str, new: str, expected: str
) -> None:
    """The Strimzi v1 CRD schemas (Strimzi 1.2.0) and the ACL rules catch what an operator would."""
    _break(k8s_copy / "overlays/strimzi" / file, old, new)
    objects = render_overlay(k8s_copy / "overlays/strimzi")
    kafka = KafkaSettings(replication_factor=3)
    problems = [
        *check_schemas(objects),
        *check_strimzi_topics(objects, kafka),
        *check_kafka_users(objects, kafka, "analytics.views"),
        *check_strimzi_cluster(objects, kafka),
    ]
    assert any(expected in p for p in problems), problems


def test_monitoring_objects_are_checked_against_the_operator_crds(k8s_copy: Path) -> None:
    _break(
        k8s_copy / "overlays/monitoring/podmonitor.yaml", "  podMetricsEndpoints:", "  podMetricEndpoints:"
    )
    problems = check_schemas(render_overlay(k8s_copy / "overlays/monitoring"))
    assert any("podMetricEndpoints" in p for p in problems), problems


def test_kustomize_errors_are_failures(k8s_copy: Path) -> None:
    _break(k8s_copy / "base/kustomization.yaml", "  - gateway.yaml\n", "  - gateway-missing.yaml\n")
    with pytest.raises(ValueError, match="kustomize failed"):
        render_overlay(k8s_copy / "base")


@pytest.fixture
def compose_copy(tmp_path: Path) -> Path:
    for name in ("compose.yaml", "compose.offline.env", "Dockerfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "monitoring", tmp_path / "monitoring")
    return tmp_path


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("127.0.0.1:8081/readyz", "127.0.0.1:8081/ready", "healthcheck 8081/ready"),
        ("127.0.0.1:8081/readyz", "127.0.0.1:8080/readyz", "healthcheck 8080/readyz is not served"),
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
        ('HORDE_HTTP_PORT: "8080"', 'HORDE_HTTP_PORT: "8082"', "serves 8082"),
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
