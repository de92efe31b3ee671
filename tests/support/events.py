"""Builders of real input events from the recorded data (tests publish them like the producers do)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from shared.domain.categories import ModelCategory
from shared.domain.horde.payloads import HordeModelStats, HordeModelStatus, HordeWorker
from shared.domain.reference.parse import parse_reference, reference_version
from shared.domain.risk.models import DeletionRiskFlags, ModelDeletionRiskInfo
from shared.events.horde import HordeStatsCaptured, HordeStatusCaptured, HordeWorkersCaptured
from shared.events.reference import ReferenceCategoryChanged
from shared.kafka import content_hash

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "data"
SYNTHETIC = DATA / "horde_api" / "synthetic"


def reference_event(
    category: ModelCategory, path: Path, *, fmt: str = "legacy", detected_at: datetime | None = None
) -> ReferenceCategoryChanged:
    """A full-state reference event for one category file."""
    raw = path.read_bytes()
    snapshot = parse_reference(category, raw, format=fmt, version=reference_version(raw))  # type: ignore[arg-type]
    return ReferenceCategoryChanged(
        category=category,
        version=snapshot.version,
        source=f"file://{path}",
        detected_at=detected_at or datetime.now(UTC),
        added=tuple(snapshot.names()),
        records=snapshot.records,
    )


def status_event(
    entries: list[dict[str, object]], *, model_type: str = "image", captured_at: datetime | None = None
) -> HordeStatusCaptured:
    parsed = tuple(HordeModelStatus.model_validate(e) for e in entries)
    return HordeStatusCaptured(
        model_type=model_type,
        source_url=f"http://standin/api/v2/status/models?type={model_type}",  # type: ignore[arg-type]
        captured_at=captured_at or datetime.now(UTC),
        content_hash=content_hash([e.model_dump(mode="json") for e in parsed]),
        entries=parsed,
    )


def stats_event(
    stats: dict[str, object], *, model_type: str = "image", captured_at: datetime | None = None
) -> HordeStatsCaptured:
    parsed = HordeModelStats.model_validate(stats)
    return HordeStatsCaptured(
        model_type=model_type,
        source_url="http://standin/api/v2/stats/img/models",  # type: ignore[arg-type]
        captured_at=captured_at or datetime.now(UTC),
        content_hash=content_hash(parsed.model_dump(mode="json")),
        stats=parsed,
    )


def workers_event(
    workers: list[dict[str, object]], *, model_type: str = "image", captured_at: datetime | None = None
) -> HordeWorkersCaptured:
    parsed = tuple(HordeWorker.model_validate(w) for w in workers if w.get("type") == model_type)
    return HordeWorkersCaptured(
        model_type=model_type,
        source_url=f"http://standin/api/v2/workers?type={model_type}",  # type: ignore[arg-type]
        captured_at=captured_at or datetime.now(UTC),
        content_hash=content_hash([w.model_dump(mode="json") for w in parsed]),
        workers=parsed,
    )


def synthetic(name: str) -> object:
    """A file of the synthetic snapshot, parsed."""
    return json.loads((SYNTHETIC / name).read_text())


def at_risk_models(category: ModelCategory, count: int) -> list[ModelDeletionRiskInfo]:
    """``count`` models (``model-0`` …) at risk for having no active workers: a risk state to publish."""
    flags = DeletionRiskFlags(no_active_workers=True)
    return [
        ModelDeletionRiskInfo(
            name=f"model-{n}", category=category, deletion_risk_flags=flags, at_risk=True, risk_score=1,
            worker_count=0,
        )
        for n in range(count)
    ]  # fmt: skip
