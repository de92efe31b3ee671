"""compose.yaml: structure (no Compose JSON schema ships offline), settings, probes, topics, monitoring."""

from __future__ import annotations

import json
import re

import yaml

from shared import metrics
from shared.topics import ALL_TOPICS
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
    assert len(topics) == 2 * len(ALL_TOPICS)  # each topic and its dead-letter topic
    assert replication == 1
    assert all(name.endswith(".dlq") == (partitions == 1) for name, (partitions, _) in topics.items())


def test_prometheus_scrapes_every_service_on_its_port() -> None:
    config = yaml.safe_load((ROOT / "monitoring/prometheus/prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    port = COMPOSE["x-horde-env"]["HORDE_OPS_PORT"]
    assert port != COMPOSE["x-horde-env"]["HORDE_HTTP_PORT"]
    assert config["rule_files"] == ["/etc/prometheus/alerts.yaml"]
    assert (
        "./monitoring/prometheus/alerts.yaml:/etc/prometheus/alerts.yaml:ro"
        in SERVICES["prometheus"]["volumes"]
    )
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
    known = metrics.series_names()
    assert used <= known, used - known
    # No hard-coded datasource: every panel reads the `datasource` variable (importable as is).
    assert {p["datasource"]["uid"] for p in dashboard["panels"]} == {"${datasource}"}


def test_broker_is_reachable_from_the_host_on_a_documented_port() -> None:
    """Tools on the host (kcat, kafka-console-consumer) reach the broker at localhost:9094."""
    kafka = SERVICES["kafka"]
    assert kafka["ports"] == ["127.0.0.1:9094:9094"]
    env = kafka["environment"]
    assert "EXTERNAL://:9094" in env["KAFKA_LISTENERS"].split(",")
    assert "EXTERNAL://localhost:9094" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert "EXTERNAL:PLAINTEXT" in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    assert "localhost:9094" in (ROOT / "compose.yaml").read_text().split("services:")[0]
    assert "localhost:9094" in (ROOT / "README.md").read_text()


def test_live_compose_passes_no_placeholder_contact() -> None:
    """Without HORDE_HORDE_API__CONTACT the live poller stops with a settings error (not `unknown`)."""
    assert COMPOSE["x-horde-env"]["HORDE_HORDE_API__CONTACT"] == "${HORDE_HORDE_API__CONTACT:-}"


def test_fixtures_are_mounted_where_offline_needs_them_not_baked_in() -> None:
    mount = "./tests/fixtures/data:/app/tests/fixtures/data:ro"
    assert mount in SERVICES["reference-watcher"]["volumes"]
    assert mount in SERVICES["horde-standin"]["volumes"]
