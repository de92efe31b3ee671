"""``python -m devtools.devstack.replay <capture>...``: replay captures through the running stack.

For each capture folder (layout: :mod:`devtools.devstack.capture`) this starts the whole stack as
processes on free ports (the AI Horde stand-in serving the capture, the four services), waits for
the gateway and compares every default answer with what the pure domain computes from the same
files: the statistics (plain and grouped) of every category of the reference, and for image and
text generation every with-stats map and deletion-risk listing. Categories the capture's reference
lacks must answer 404 (D17). Prints one line per answer and exits 1 on the first mismatch set.

It starts the embedded broker and a redis-server on free ports unless
``HORDE_KAFKA__BOOTSTRAP_SERVERS`` / ``HORDE_REDIS__URL`` name existing ones; every run uses its
own topic and key prefix, so it never disturbs anything else on them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.devstack.broker import start_tansu, stop_process
from devtools.devstack.capture import Capture, load_capture
from devtools.devstack.processes import STACK_SERVICES, start_services, start_standin, stop_services
from devtools.devstack.redis_server import start_redis_server
from shared.domain.categories import RUNTIME_CATEGORIES, ModelCategory
from shared.domain.reference.records import ReferenceSnapshot
from shared.domain.risk.thresholds import RiskThresholds
from shared.domain.views import (
    RISK_FLAGS,
    WITH_STATS_FLAGS,
    CategoryViews,
    build_category_views,
    effective_risk_flags,
)

P = "/model_references/statistics"


@dataclass
class Compared:
    """One gateway answer and whether it equals the domain's."""

    path: str
    equal: bool
    detail: str = ""


@dataclass
class ReplayReport:
    """Every answer compared for one capture."""

    capture: Path
    compared: list[Compared] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.compared) and all(c.equal for c in self.compared)


def expected_views(capture: Capture) -> dict[ModelCategory, CategoryViews]:
    """The domain's views of every category of the capture, from its files alone."""
    views = {}
    for category, reference in capture.references.items():
        model_type = RUNTIME_CATEGORIES.get(category)
        horde = capture.horde_snapshot(model_type) if model_type else None
        snapshot = ReferenceSnapshot(category=category, version="", records=reference.records)
        views[category] = build_category_views(
            snapshot, horde, RiskThresholds(), computed_at=0, styles=capture.styles
        )
    return views


def _get(url: str) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Accept-Encoding": "identity"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


#: What an answer holds that the capture's files alone do not determine: freshness and the
#: computation time, and the lifecycle fields (they come from the history the running stack
#: has recorded and from the day of the run; ``docs/history.md``).
_PER_RUN = ("freshness", "computed_at")


def _plain(body: Any) -> Any:
    """An answer without what differs per run (``_PER_RUN`` at the top, ``lifecycle`` anywhere)."""
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in _PER_RUN}
    return _without_lifecycle(body)


def _without_lifecycle(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_lifecycle(v) for k, v in value.items() if k != "lifecycle"}
    if isinstance(value, list):
        return [_without_lifecycle(v) for v in value]
    return value


def _domain(model: Any) -> Any:
    return _plain(json.loads(model.model_dump_json()) if hasattr(model, "model_dump_json") else model)


def _flags(first: str, a: bool, second: str, b: bool) -> str:
    return f"{first}={str(a).lower()}&{second}={str(b).lower()}"


def expected_answers(capture: Capture) -> dict[str, Any]:
    """Request path → the JSON the gateway must answer (without freshness)."""
    answers: dict[str, Any] = {}
    for category, views in expected_views(capture).items():
        base = f"{P}/{category.value}"
        if capture.references[category].records:
            answers[base] = _domain(views.statistics)
            answers[f"{base}?group_text_models=true"] = _domain(views.statistics_grouped)
        runtime = views.runtime
        if runtime is None:
            continue
        for workers, variations in WITH_STATS_FLAGS:
            query = (
                f"include_workers={str(workers).lower()}&include_backend_variations={str(variations).lower()}"
            )
            entries = runtime.with_stats[(workers, variations)]
            answers[f"{base}/with-stats?{query}"] = {
                n: json.loads(s.model_dump_json()) for n, s in entries.items()
            }
        for grouped, variations in RISK_FLAGS:
            if effective_risk_flags(category, grouped, variations) != (grouped, variations):
                continue
            query = _flags("group_text_models", grouped, "include_backend_variations", variations)
            answers[f"{base}/deletion-risk?{query}"] = _domain(runtime.risk[(grouped, variations)])
    return answers


def compare(gateway: str, capture: Capture, *, within: float = 120.0) -> ReplayReport:
    """Poll each expected answer until it is equal or ``within`` seconds have passed overall."""
    report = ReplayReport(capture.folder)
    deadline = time.monotonic() + within
    for path, want in expected_answers(capture).items():
        status, body = _get(gateway + path)
        while (status != 200 or _plain(body) != want) and time.monotonic() < deadline:
            time.sleep(0.5)
            status, body = _get(gateway + path)
        equal = status == 200 and _plain(body) == want
        report.compared.append(
            Compared(path, equal, "" if equal else f"HTTP {status}: {_first_difference(_plain(body), want)}")
        )
    for category in ModelCategory:
        reference = capture.references.get(category)
        if reference is None or not reference.records:  # D17: no models → 404, at once
            status, body = _get(f"{gateway}{P}/{category.value}")
            while status == 503 and time.monotonic() < deadline:  # the watcher's first poll is pending
                time.sleep(0.5)
                status, body = _get(f"{gateway}{P}/{category.value}")
            detail = body.get("detail", "") if isinstance(body, dict) else ""
            report.compared.append(
                Compared(f"{P}/{category.value}", status == 404, f"HTTP {status} {detail}")
            )
    return report


def _first_difference(got: Any, want: Any, path: str = "") -> str:
    if isinstance(got, dict) and isinstance(want, dict):
        for key in sorted(set(got) | set(want)):
            if got.get(key) != want.get(key):
                return _first_difference(got.get(key), want.get(key), f"{path}.{key}")
        return path
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        for index, (a, b) in enumerate(zip(got, want, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{path}[{index}]")
    return f"{path or '<body>'}: got {str(got)[:120]} want {str(want)[:120]}"


def stack_env(capture: Capture, *, base: dict[str, str], standin: str, prefix: str) -> dict[str, str]:
    """Environment of the four services for one replay: the capture's reference, the stand-in as
    the Horde, topics and keys under ``prefix``, short poll intervals."""
    return (
        base
        | {
            "HORDE_KAFKA__TOPIC_PREFIX": f"{prefix}.",
            "HORDE_REDIS__KEY_PREFIX": prefix,
            "HORDE_ANALYTICS__CONSUMER_GROUP": prefix,
            "HORDE_HORDE_API__BASE_URL": standin + "/api",
            "HORDE_HORDE_API__STATUS_INTERVAL_SECONDS": "5",
            "HORDE_HORDE_API__WORKERS_INTERVAL_SECONDS": "30",
            "HORDE_HORDE_API__STATS_INTERVAL_SECONDS": "30",
            "HORDE_HORDE_API__MAX_REQUESTS_PER_MINUTE": "600",
            "HORDE_REFERENCE__SOURCE": "folder",
            "HORDE_REFERENCE__FOLDER": str(capture.reference_dir),
            "HORDE_REFERENCE__POLL_INTERVAL_SECONDS": "30",
        }
        | capture.styles_env()
    )


def replay(
    capture: Capture, *, base_env: dict[str, str], log_dir: Path, within: float = 120.0
) -> ReplayReport:
    """Start the stand-in and the four services for ``capture``, compare, stop everything."""
    log_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "--data-dir",
        str(capture.horde_dir),
        "--reference-dir",
        str(capture.reference_dir),
        "--rate-limit",
        "100000",
    ]
    standin = start_standin(args, log_dir / "horde-standin.log")
    try:
        prefix = f"replay{uuid.uuid4().hex[:8]}"
        env = stack_env(capture, base=base_env, standin=standin.base_url, prefix=prefix)
        services = start_services(STACK_SERVICES, env, log_dir)
        try:
            return compare(services["gateway"].base_url, capture, within=within)
        finally:
            stop_services(services)
    finally:
        standin.stop()


@contextmanager
def infrastructure() -> Iterator[dict[str, str]]:
    """Broker and Redis: the ones named in the environment, else our own on free ports."""
    env = {"HORDE_LOG_JSON": "false"}
    started = []
    try:
        bootstrap = os.environ.get("HORDE_KAFKA__BOOTSTRAP_SERVERS")
        if bootstrap is None:
            bootstrap, broker, _ = start_tansu()
            started.append(broker)
            env |= {
                "HORDE_KAFKA__ENABLE_IDEMPOTENCE": "false",
                "HORDE_KAFKA__TRANSACTIONS": "false",
                "HORDE_KAFKA__SESSION_TIMEOUT_MS": "2000",
                "HORDE_KAFKA__HEARTBEAT_INTERVAL_MS": "200",
                "HORDE_KAFKA__REBALANCE_TIMEOUT_MS": "2000",
            }
        redis_url = os.environ.get("HORDE_REDIS__URL")
        if redis_url is None:
            redis_url, redis_process = start_redis_server()
            started.append(redis_process)
        yield env | {"HORDE_KAFKA__BOOTSTRAP_SERVERS": bootstrap, "HORDE_REDIS__URL": redis_url}
    finally:
        for process in reversed(started):
            stop_process(process)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("captures", nargs="+", type=Path, help="capture folders (reference/ + horde_api/)")
    parser.add_argument("--within", type=float, default=120.0, help="seconds to wait for the answers")
    args = parser.parse_args(argv)
    captures = [load_capture(folder.resolve()) for folder in args.captures]
    ok = True
    with infrastructure() as base_env:
        for capture in captures:
            log_dir = Path(tempfile.mkdtemp(prefix="hma-replay-"))
            report = replay(capture, base_env=base_env, log_dir=log_dir, within=args.within)
            print(f"{capture.folder} (text reference: {capture.text_source or '-'}; logs in {log_dir})")
            for compared in report.compared:
                print(f"  {'equal' if compared.equal else 'DIFFERENT':<9} {compared.path}  {compared.detail}")
            ok = ok and report.ok
    print("all answers equal the domain" if ok else "some answers differ from the domain")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
