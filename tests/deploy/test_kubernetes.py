"""k8s/: schemas of every rendered object, the project's rules, settings, probes, topics."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from shared.settings import KafkaSettings
from tests.deploy.checks import (
    KAFKA_USER_OF,
    ROOT,
    check_k8s,
    check_kafka_users,
    check_schemas,
    check_strimzi_cluster,
    check_strimzi_topics,
    parse_settings,
    settings_catalogue,
)
from tests.deploy.conftest import KUSTOMIZATIONS, OPERATOR_KUSTOMIZATIONS

Rendered = dict[str, list[dict[str, Any]]]


def _key(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    meta = obj["metadata"]
    return obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"]


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_kustomization_is_valid(rendered: Rendered, name: str) -> None:
    assert check_k8s(rendered[name], tagged=name != "base") == []


def _prod_settings(rendered: Rendered) -> Any:
    prod = next(o for o in rendered["overlays/prod"] if o["kind"] == "ConfigMap")
    settings, error = parse_settings(prod["data"])
    assert settings is not None, error
    return settings


def test_strimzi_topics_are_the_code_topics_with_prod_sizing(rendered: Rendered) -> None:
    """kafka.strimzi.io/v1 KafkaTopics = the code's topics, replication 3, min.insync.replicas 2."""
    settings = _prod_settings(rendered)
    assert settings.kafka.create_topics is False, "prod relies on the KafkaTopics, services must not create"
    assert check_strimzi_topics(rendered["overlays/strimzi"], settings.kafka) == []
    topics = [o for o in rendered["overlays/strimzi"] if o["kind"] == "KafkaTopic"]
    assert {o["apiVersion"] for o in topics} == {"kafka.strimzi.io/v1"}
    assert {o["spec"]["replicas"] for o in topics} == {3}
    assert {o["spec"]["config"]["min.insync.replicas"] for o in topics} == {"2"}


def test_one_kafka_user_per_client_with_only_the_acls_it_needs(rendered: Rendered) -> None:
    settings = _prod_settings(rendered)
    objects = rendered["overlays/strimzi"]
    assert check_kafka_users(objects, settings.kafka, settings.analytics.consumer_group) == []
    assert check_strimzi_cluster(objects, settings.kafka) == []


def test_strimzi_resources_live_with_the_application(rendered: Rendered) -> None:
    """Strimzi writes its Secrets in the namespace of its cluster and users; pods can mount only
    Secrets of their own namespace, so the cluster, its users and the app share one."""
    namespaces = {o["metadata"]["namespace"] for o in rendered["overlays/strimzi"]}
    app = {o["metadata"]["namespace"] for o in rendered["overlays/prod"] if "namespace" in o["metadata"]}
    assert namespaces == app == {"horde-model-analytics"}


def test_prod_mounts_strimzi_secrets_not_copies(rendered: Rendered) -> None:
    cluster = next(o for o in rendered["overlays/strimzi"] if o["kind"] == "Kafka")["metadata"]["name"]
    data = next(o for o in rendered["overlays/prod"] if o["kind"] == "ConfigMap")["data"]
    assert data["HORDE_KAFKA__BOOTSTRAP_SERVERS"] == f"{cluster}-kafka-bootstrap:9093"
    for deployment in (o for o in rendered["overlays/prod"] if o["kind"] == "Deployment"):
        name = deployment["metadata"]["name"]
        module = name.replace("-", "_")
        if module not in KAFKA_USER_OF:
            continue
        pod = deployment["spec"]["template"]["spec"]
        env = {e["name"]: e for e in pod["containers"][0]["env"]}
        user = KAFKA_USER_OF[module]
        assert env["HORDE_KAFKA__SASL_USERNAME"]["value"] == user, name
        assert env["HORDE_KAFKA__SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": user,
            "key": "password",
            "optional": False,
        }, name
        mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "kafka-ca")
        assert data["HORDE_KAFKA__SSL_CAFILE"] == mount["mountPath"] + "/ca.crt"
        volume = next(v for v in pod["volumes"] if v["name"] == "kafka-ca")
        assert volume["secret"]["secretName"] == f"{cluster}-cluster-ca-cert", name


def test_ingress_publishes_the_api_paths_only(rendered: Rendered) -> None:
    from services.gateway.app import create_app
    from shared.runtime import OPS_PATHS
    from shared.settings import Settings

    # The review page is published too: HTML pages outside the OpenAPI document, reading what it serves.
    api = sorted([*create_app(Settings()).openapi()["paths"], "/review/"])
    (ingress,) = (o for o in rendered["overlays/prod"] if o["kind"] == "Ingress")
    paths = [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert paths
    for path in paths:
        prefix = path["path"].rstrip("/") + "/"
        assert path["pathType"] == "Prefix", path
        assert prefix != "/", path
        assert any((p + "/").startswith(prefix) for p in api), path
        for hidden in (*OPS_PATHS, "/docs", "/openapi.json", "/redoc"):
            assert not (hidden + "/").startswith(prefix), (path, hidden)
        assert path["backend"]["service"]["port"]["name"] == "http"
    prefixes = [p["path"].rstrip("/") + "/" for p in paths]
    unpublished = [a for a in api if not any((a + "/").startswith(prefix) for prefix in prefixes)]
    assert unpublished == [], "a documented API route the Ingress does not route: add its path"
    service = next(o for o in rendered["overlays/prod"] if o["kind"] == "Service")
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"], "the ops port is on no Service"


def test_operator_resources_validate_against_the_release_crds(rendered: Rendered) -> None:
    for name in OPERATOR_KUSTOMIZATIONS:
        assert check_schemas(rendered[name]) == [], name
    kinds = {o["kind"] for name in OPERATOR_KUSTOMIZATIONS for o in rendered[name]}
    assert kinds == {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "PodMonitor", "PrometheusRule"}


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
        "Ingress",
        "KafkaTopic",
        "KafkaUser",
        "PodMonitor",
        "PrometheusRule",
    } <= kinds
    assert check_schemas(
        [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {}}]
    )


def test_default_kafka_settings_match_base(rendered: Rendered) -> None:
    data = next(o for o in rendered["base"] if o["kind"] == "ConfigMap")["data"]
    assert int(data["HORDE_KAFKA__TOPIC_PARTITIONS"]) == KafkaSettings().topic_partitions
