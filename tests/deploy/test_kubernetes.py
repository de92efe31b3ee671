"""k8s/: schemas of every rendered object, the project's rules, settings, probes, topics."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from shared.settings import KafkaSettings
from tests.deploy.checks import (
    ROOT,
    check_k8s,
    check_schemas,
    check_strimzi_topics,
    kubectl_available,
    parse_settings,
    settings_catalogue,
)
from tests.deploy.conftest import KUSTOMIZATIONS
from tests.deploy.kustomize import render

Rendered = dict[str, list[dict[str, Any]]]


def _key(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    meta = obj["metadata"]
    return obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"]


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_kustomization_is_valid(rendered: Rendered, name: str) -> None:
    assert check_k8s(rendered[name], tagged=name != "base") == []


def test_strimzi_topics_are_the_code_topics_with_prod_sizing(rendered: Rendered) -> None:
    prod = next(o for o in rendered["overlays/prod"] if o["kind"] == "ConfigMap")
    settings, error = parse_settings(prod["data"])
    assert settings is not None, error
    assert settings.kafka.create_topics is False, "prod relies on the KafkaTopics, services must not create"
    assert check_strimzi_topics(rendered["overlays/strimzi-topics"], settings.kafka) == []
    assert {o["metadata"]["namespace"] for o in rendered["overlays/strimzi-topics"]} == {"kafka"}


@pytest.mark.parametrize("name", [*KUSTOMIZATIONS, "overlays/strimzi-topics"])
def test_python_renderer_reproduces_kubectl(name: str) -> None:
    """CI has no kubectl and uses tests/deploy/kustomize.py: both must give the same objects."""
    if not kubectl_available():
        pytest.skip("kubectl is not installed (CI): the Python renderer is used alone")
    from tests.deploy.checks import render_overlay

    ours = {_key(o): o for o in render(ROOT / "k8s" / name)}
    theirs = {_key(o): o for o in render_overlay(ROOT / "k8s" / name, engine="kubectl")}
    assert ours == theirs


def test_kustomizations_use_only_supported_and_current_fields() -> None:
    for path in sorted((ROOT / "k8s").rglob("kustomization.yaml")):
        data = yaml.safe_load(path.read_text())
        assert "commonLabels" not in data, f"{path}: use labels:, commonLabels rewrites selectors"
        assert not {"patchesStrategicMerge", "bases", "vars"} & set(data), f"{path}: deprecated fields"


def test_every_setting_is_in_the_config_map_or_a_secret_ref(rendered: Rendered) -> None:
    catalogue = settings_catalogue()
    assert {k for k, secret in catalogue.items() if secret} == {
        "HORDE_KAFKA__SASL_PASSWORD",
        "HORDE_REDIS__PASSWORD",
        "HORDE_HORDE_API__API_KEY",
    }
    for name in KUSTOMIZATIONS:
        data = next(o for o in rendered[name] if o["kind"] == "ConfigMap")["data"]
        refs = {
            env["name"]
            for o in rendered[name]
            if o["kind"] == "Deployment"
            for c in o["spec"]["template"]["spec"]["containers"]
            for env in c.get("env", [])
            if "secretKeyRef" in env.get("valueFrom", {})
        }
        for env, secret in catalogue.items():
            assert (env in refs) if secret else (env in data), f"{name}: {env}"


def test_prod_uses_tls_and_secrets(rendered: Rendered) -> None:
    data = next(o for o in rendered["overlays/prod"] if o["kind"] == "ConfigMap")["data"]
    assert data["HORDE_KAFKA__SECURITY_PROTOCOL"] == "SASL_SSL"
    assert data["HORDE_KAFKA__SSL_CAFILE"]
    assert data["HORDE_REDIS__URL"].startswith("rediss://")
    assert int(data["HORDE_KAFKA__REPLICATION_FACTOR"]) >= 3
    for deployment in (o for o in rendered["overlays/prod"] if o["kind"] == "Deployment"):
        for env in deployment["spec"]["template"]["spec"]["containers"][0].get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref and env["name"] in ("HORDE_KAFKA__SASL_PASSWORD", "HORDE_REDIS__PASSWORD"):
                assert ref.get("optional") is False, (
                    f"{deployment['metadata']['name']}: {env['name']} required"
                )


def test_schema_check_covers_every_kind(rendered: Rendered) -> None:
    kinds = {o["kind"] for name in rendered for o in rendered[name]}
    assert {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
    } <= kinds
    assert check_schemas(
        [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {}}]
    )


def test_default_kafka_settings_match_base(rendered: Rendered) -> None:
    data = next(o for o in rendered["base"] if o["kind"] == "ConfigMap")["data"]
    assert int(data["HORDE_KAFKA__TOPIC_PARTITIONS"]) == KafkaSettings().topic_partitions
