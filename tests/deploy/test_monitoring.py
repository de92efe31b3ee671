"""Monitoring: the alert rules (promtool), their runbook, the Prometheus Operator objects, the
dashboard, and kube-score over the production rendering."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import yaml

from shared import metrics
from tests.deploy.checks import ROOT, require_tool

Rendered = dict[str, list[dict[str, Any]]]
ALERTS = ROOT / "monitoring/prometheus/alerts.yaml"
RULE_TESTS = ROOT / "monitoring/prometheus/alerts.test.yaml"
RUNBOOK = ROOT / "docs/runbook.md"
RULES = [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def _known_metrics() -> set[str]:
    return {"up", *metrics.series_names()}


def test_promtool_checks_and_unit_tests_the_rules() -> None:
    promtool = require_tool("promtool")
    check = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    tests = subprocess.run(
        [promtool, "test", "rules", str(RULE_TESTS)], capture_output=True, text=True, timeout=120
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "SUCCESS" in tests.stdout + tests.stderr


def test_alerts_cover_what_matters_with_metrics_that_exist() -> None:
    """Answers stale, lag growing, dead letters, AI Horde polls failing, a category without a current
    generation, broker or Redis unreachable (issue 19), and every metric they read is exported."""
    names = {rule["alert"] for rule in RULES}
    assert {
        "HmaAnswersStale",
        "HmaConsumerLagGrowing",
        "HmaDeadLettersArriving",
        "HmaHordePollsFailing",
        "HmaCategoryWithoutGeneration",
        "HmaBrokerUnreachable",
        "HmaRedisUnreachable",
    } <= names
    known = _known_metrics()
    for rule in RULES:
        used = set(re.findall(r"\b(hma_[a-z_]+|up)\b(?=\s*[{\[)])", rule["expr"]))
        assert used, rule["alert"]
        assert used <= known, (rule["alert"], used - known)
        assert rule["labels"]["severity"] == "page"


def test_every_alert_is_tested_firing_by_promtool() -> None:
    tested = yaml.safe_load(RULE_TESTS.read_text())
    assert tested["rule_files"] == ["alerts.yaml"]
    firing = {
        case["alertname"]
        for test in tested["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    quiet = {
        case["alertname"]
        for test in tested["tests"]
        for case in test.get("alert_rule_test", [])
        if not case.get("exp_alerts")
    }
    names = {rule["alert"] for rule in RULES}
    assert firing == names
    assert quiet == names, "each alert also has a case where it must stay quiet"


def test_every_alert_has_a_runbook_section_and_links_it() -> None:
    text = RUNBOOK.read_text()
    sections = re.findall(r"^## (\w+)$", text, re.M)
    names = [rule["alert"] for rule in RULES]
    assert sorted(sections) == sorted(names)
    for rule in RULES:
        url = rule["annotations"]["runbook_url"]
        assert url.endswith("docs/runbook.md#" + rule["alert"].lower()), url
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]


def test_prometheus_rule_is_the_rule_file(rendered: Rendered) -> None:
    (rule,) = (o for o in rendered["overlays/monitoring"] if o["kind"] == "PrometheusRule")
    assert rule["spec"]["groups"] == yaml.safe_load(ALERTS.read_text())["groups"]


def test_pod_monitor_scrapes_the_ops_port_of_every_service(rendered: Rendered) -> None:
    (monitor,) = (o for o in rendered["overlays/monitoring"] if o["kind"] == "PodMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["path"] == "/metrics"
    relabel = {r["targetLabel"]: r for r in endpoint["relabelings"]}
    assert relabel["job"]["replacement"] == "horde-model-analytics"  # the alerts' and dashboard's job
    assert "service" in relabel
    deployments = [o for o in rendered["overlays/prod"] if o["kind"] == "Deployment"]
    assert len(deployments) == 4
    for deployment in deployments:
        template = deployment["spec"]["template"]
        assert selector.items() <= template["metadata"]["labels"].items(), deployment["metadata"]["name"]
        ports = {p["name"]: p["containerPort"] for p in template["spec"]["containers"][0]["ports"]}
        assert ports[endpoint["port"]] == 8081
    namespaces = {o["metadata"]["namespace"] for o in rendered["overlays/monitoring"]}
    assert namespaces == {deployments[0]["metadata"]["namespace"]}


def test_dashboard_imports_as_is_with_variables() -> None:
    """No hard-coded datasource: `__inputs` for import, a datasource variable every panel reads,
    service and category variables used by the queries; the JSON is the generator's output."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "build_dashboard", ROOT / "monitoring/grafana/build_dashboard.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = ROOT / "monitoring/grafana/dashboards/horde-model-analytics.json"
    assert path.read_text() == module.render(), "run monitoring/grafana/build_dashboard.py"
    dashboard = json.loads(path.read_text())
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("service", "category"):
        assert variables[name]["datasource"]["uid"] == "${datasource}"
        assert variables[name]["includeAll"] is True
    assert "hma-prometheus" not in path.read_text()
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert all('service=~"$service"' in e for e in exprs)
    assert sum('category=~"$category"' in e for e in exprs) >= 4
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_kube_score_finds_nothing_critical_in_production() -> None:
    """kube-score over what `kubectl apply -k k8s/overlays/prod` sends (overlays/dev, a one-node
    playground with its own Kafka and Redis, is not production and not scored)."""
    kube_score = require_tool("kube-score")
    from tests.deploy.checks import kustomize_command

    rendered = subprocess.run(
        [*kustomize_command(), str(ROOT / "k8s/overlays/prod")], capture_output=True, text=True, check=True
    ).stdout
    done = subprocess.run(
        [kube_score, "score", "-", "--output-format", "ci"],
        input=rendered,
        capture_output=True,
        text=True,
        timeout=120,
    )
    critical = [line for line in done.stdout.splitlines() if line.startswith("[CRITICAL]")]
    assert critical == [], "\n".join(critical)
    assert "[OK]" in done.stdout
