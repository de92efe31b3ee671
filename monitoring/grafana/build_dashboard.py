"""Write the Grafana dashboard (dashboards/horde-model-analytics.json): run this file with Python.

The dashboard imports as is into any Grafana (Dashboards → Import): ``__inputs`` asks for the
Prometheus datasource, and every panel reads it through the ``datasource`` variable, so provisioning
(Compose) and import both work without editing. ``service`` and ``category`` variables filter the
panels; tests/deploy/test_monitoring.py checks the JSON against this generator and the metric names
against shared/metrics.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards" / "horde-model-analytics.json"
DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'service=~"$service"'
CAT = 'service=~"$service", category=~"$category"'

#: (title, description, unit, [(expr, legend)], width)
PANELS: list[tuple[str, str, str, list[tuple[str, str]], int]] = [
    (
        "Answers: age of the confirmed AI Horde status",
        "Seconds since the status behind each category's answers was confirmed; answers are stale "
        "above HORDE_ANALYTICS__STALE_AFTER_SECONDS (600). Alert HmaAnswersStale.",
        "s",
        [(f"time() - max by (category) (hma_answers_confirmed_timestamp_seconds{{{CAT}}})", "{{category}}")],
        12,
    ),
    (
        "Freshness: time since the latest generation",
        "Seconds since analytics last wrote a generation of each category.",
        "s",
        [(f"time() - max by (category) (hma_last_generation_timestamp_seconds{{{CAT}}})", "{{category}}")],
        12,
    ),
    (
        "Categories with a current generation",
        "1 = the gateway has answers for the category. Alert HmaCategoryWithoutGeneration.",
        "short",
        [(f"max by (category) (hma_current_generation_present{{{CAT}}})", "{{category}}")],
        8,
    ),
    (
        "Dependencies reachable",
        "Latest readiness check per pod and dependency. Alerts HmaBrokerUnreachable, HmaRedisUnreachable.",
        "short",
        [(f"min by (service, dependency) (hma_dependency_up{{{SEL}}})", "{{service}} → {{dependency}}")],
        8,
    ),
    (
        "Services up",
        "Scrapes that succeed per service. Alert HmaServiceDown.",
        "short",
        [(f'sum by (service) (up{{job="horde-model-analytics", {SEL}}})', "{{service}}")],
        8,
    ),
    (
        "Consumer lag (records)",
        "Records between the analytics group's position and the high watermark. Alert HmaConsumerLagGrowing.",
        "short",
        [(f"sum by (topic) (hma_consumer_lag_records{{{SEL}}})", "{{topic}}")],
        12,
    ),
    (
        "Dead letters (per hour)",
        "Records moved to <topic>.dlq. Alert HmaDeadLettersArriving.",
        "short",
        [(f"sum by (topic) (increase(hma_dead_letters_total{{{SEL}}}[1h]))", "{{topic}}")],
        12,
    ),
    (
        "Recompute time",
        "Time to recompute and write every view of a category (p50, p95).",
        "s",
        [
            (
                "histogram_quantile(0.5, sum by (le, category) "
                f"(rate(hma_recompute_seconds_bucket{{{CAT}}}[5m])))",
                "p50 {{category}}",
            ),
            (
                "histogram_quantile(0.95, sum by (le, category) "
                f"(rate(hma_recompute_seconds_bucket{{{CAT}}}[5m])))",
                "p95 {{category}}",
            ),
        ],
        12,
    ),
    (
        "Deletion risk: models per category and state",
        "Models per deletion-risk state in the latest generation.",
        "short",
        [(f"max by (category, state) (hma_risk_models{{{CAT}}})", "{{category}} {{state}}")],
        12,
    ),
    (
        "AI Horde: consecutive failed polls",
        "Per endpoint and model type. Alert HmaHordePollsFailing.",
        "short",
        [
            (
                f"max by (endpoint, model_type) (hma_horde_consecutive_failures{{{SEL}}})",
                "{{endpoint}} {{model_type}}",
            )
        ],
        8,
    ),
    (
        "AI Horde: requests per minute",
        "Requests sent to the AI Horde by outcome (budget: HORDE_HORDE_API__MAX_REQUESTS_PER_MINUTE).",
        "short",
        [
            (
                f"sum by (endpoint, outcome) (rate(hma_horde_requests_total{{{SEL}}}[5m])) * 60",
                "{{endpoint}} {{outcome}}",
            )
        ],
        8,
    ),
    (
        "AI Horde: rate-limit headroom",
        "X-RateLimit-Remaining of the latest answer.",
        "short",
        [(f"min(hma_horde_rate_limit_remaining{{{SEL}}})", "remaining")],
        8,
    ),
    (
        "Gateway latency p95",
        "Per route, from the gateway's request histogram.",
        "s",
        [
            (
                "histogram_quantile(0.95, sum by (le, route) "
                f"(rate(hma_gateway_request_seconds_bucket{{{SEL}}}[5m])))",
                "{{route}}",
            )
        ],
        12,
    ),
    (
        "Gateway requests per second",
        "Per HTTP status.",
        "reqps",
        [(f"sum by (status) (rate(hma_gateway_request_seconds_count{{{SEL}}}[5m]))", "{{status}}")],
        12,
    ),
]


def _variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": {"query": query, "refId": f"{name}-variable"},
        "definition": query,
        "refresh": 2,
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "current": {"text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


def dashboard() -> dict[str, Any]:
    panels, x, y = [], 0, 0
    for index, (title, description, unit, targets, width) in enumerate(PANELS, start=1):
        if x + width > 24:
            x, y = 0, y + 8
        panels.append(
            {
                "id": index,
                "type": "timeseries",
                "title": title,
                "description": description,
                "datasource": DS,
                "gridPos": {"x": x, "y": y, "w": width, "h": 8},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "options": {
                    "legend": {"displayMode": "list", "placement": "bottom"},
                    "tooltip": {"mode": "multi"},
                },
                "targets": [
                    {"refId": chr(ord("A") + i), "datasource": DS, "expr": expr, "legendFormat": legend}
                    for i, (expr, legend) in enumerate(targets)
                ],
            }
        )
        x += width
    return {
        "__inputs": [
            {
                "name": "DS_PROMETHEUS",
                "label": "Prometheus",
                "description": "The Prometheus that scrapes Horde Model Analytics",
                "type": "datasource",
                "pluginId": "prometheus",
                "pluginName": "Prometheus",
            }
        ],
        "__requires": [
            {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.0.0"},
            {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
            {"type": "panel", "id": "timeseries", "name": "Time series", "version": ""},
        ],
        "uid": "hma-overview",
        "title": "Horde Model Analytics",
        "tags": ["horde-model-analytics"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 2,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "refresh": 1,
                    "current": {"text": "${DS_PROMETHEUS}", "value": "${DS_PROMETHEUS}"},
                    "hide": 0,
                },
                _variable("service", "Service", 'label_values(up{job="horde-model-analytics"}, service)'),
                _variable(
                    "category", "Category", "label_values(hma_last_generation_timestamp_seconds, category)"
                ),
            ]
        },
        "annotations": {"list": []},
        "panels": panels,
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    print(OUT)
