"""compose.yaml: structure (no Compose JSON schema ships offline), settings, probes, topics, monitoring."""

from __future__ import annotations

import json
import re

import yaml
from prometheus_client.metrics import MetricWrapperBase

from shared import metrics
from tests.deploy.checks import ROOT, check_compose, compose_topics, settings_catalogue

COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]


def test_compose_is_valid() -> None:
    assert check_compose() == []


def test_compose_offline_is_valid_and_points_the_poller_at_the_standin() -> None:
    assert check_compose(env_file=ROOT / "compose.offline.env") == []


def test_every_setting_is_in_compose() -> None:
    env = COMPOSE["x-horde-env"]
    assert set(env) == set(settings_catalogue())


def test_services_and_their_gates() -> None:
    assert {"kafka", "kafka-init", "redis", "poller", "reference-watcher", "analytics", "gateway"} <= set(
        SERVICES
    )
    assert SERVICES["kafka"]["image"].startswith("apache/kafka:")
    for name in ("poller", "reference-watcher", "analytics"):
        assert SERVICES[name]["depends_on"]["kafka-init"]["condition"] == "service_completed_successfully"
    for name in ("analytics", "gateway"):
        assert SERVICES[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert SERVICES["kafka-init"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert SERVICES["horde-standin"]["profiles"] == ["offline"]
    assert SERVICES["prometheus"]["profiles"] == SERVICES["grafana"]["profiles"] == ["monitoring"]
    assert SERVICES["gateway"]["ports"] == ["8080:8080"]


def test_kafka_init_creates_every_topic_and_dead_letter_topic() -> None:
    topics, replication = compose_topics(SERVICES)
    assert len(topics) == 14
    assert replication == 1
    assert all(name.endswith(".dlq") == (partitions == 1) for name, (partitions, _) in topics.items())


def test_prometheus_scrapes_every_service_on_its_port() -> None:
    config = yaml.safe_load((ROOT / "monitoring/prometheus/prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    port = COMPOSE["x-horde-env"]["HORDE_HTTP_PORT"]
    assert targets == {
        f"{name}:{port}" for name in ("poller", "reference-watcher", "analytics", "gateway", "horde-standin")
    }
    assert all(job["metrics_path"] == "/metrics" for job in config["scrape_configs"])


def test_dashboard_queries_real_metrics() -> None:
    dashboard = json.loads((ROOT / "monitoring/grafana/dashboards/horde-model-analytics.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    used = set(re.findall(r"\bhma_[a-z_]+", exprs))
    required = {
        "hma_last_generation_timestamp_seconds",
        "hma_consumer_lag_records",
        "hma_recompute_seconds_bucket",
        "hma_dead_letters_total",
        "hma_horde_consecutive_failures",
        "hma_horde_rate_limit_remaining",
        "hma_horde_requests_total",
        "hma_risk_models",
    }
    assert required <= used
    known: set[str] = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            name, kind = value._name, value._type
            known |= {f"{name}_total"} if kind == "counter" else {name}
            if kind == "histogram":
                known |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    assert used <= known, used - known
    datasource = yaml.safe_load(
        (ROOT / "monitoring/grafana/provisioning/datasources/prometheus.yaml").read_text()
    )
    uid = datasource["datasources"][0]["uid"]
    assert {p["datasource"]["uid"] for p in dashboard["panels"]} == {uid}
