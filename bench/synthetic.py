"""Benchmark inputs: the real data and deterministic k-fold copies of it.

Real size is today's references × the synthetic consistent Horde snapshot (fixtures README §3).
Larger sizes copy every reference model and every Horde name ``k`` times under a copy marker that
survives matching: it is put in front of the last path segment (``Author/copy3-Model``), so
backend spellings (``koboldcpp/copy3-Model``), quantisation suffixes (``...-Model.Q5_K_M``) and
``::user#id`` tags still resolve to the right copy. A trailing ``-copy3`` would sit after a
quantisation token and break the stem rule. Copy 0 is the original, so ``k = 1`` is the real data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.domain.categories import RUNTIME_CATEGORIES, ModelCategory
from shared.domain.horde.payloads import HordeModelStats, HordeModelStatus, HordeSnapshot, HordeWorker
from shared.domain.horde.spellings import USER_TAG_SEPARATOR
from shared.domain.reference.parse import V2_FILES, parse_reference, reference_version
from shared.domain.reference.records import ReferenceSnapshot

DATA = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "data"
SYNTHETIC = DATA / "horde_api" / "synthetic"

#: Current legacy references of the two runtime categories (what the AI Horde itself reads).
LEGACY_REFERENCES: dict[ModelCategory, Path] = {
    ModelCategory.IMAGE_GENERATION: DATA / "reference" / "image" / "stable_diffusion.json",
    ModelCategory.TEXT_GENERATION: DATA / "reference" / "text" / "db.json",
}


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def load_reference(category: ModelCategory) -> ReferenceSnapshot:
    """Current reference of ``category``: legacy for image/text, the v2 file otherwise."""
    if category in LEGACY_REFERENCES:
        path, fmt = LEGACY_REFERENCES[category], "legacy"
    else:
        path, fmt = DATA / "reference" / "v2" / V2_FILES[category], "v2"
    raw = path.read_bytes()
    return parse_reference(category, raw, format=fmt, version=reference_version(raw))  # type: ignore[arg-type]


def static_categories() -> list[ModelCategory]:
    """Categories without runtime data that have a current reference file (statistics only)."""
    return [
        category
        for category in ModelCategory
        if category not in RUNTIME_CATEGORIES and (DATA / "reference" / "v2" / V2_FILES[category]).exists()
    ]


def load_snapshot(category: ModelCategory) -> HordeSnapshot:
    """The synthetic snapshot of a runtime category; workers filtered by type as ``?type=`` does."""
    kind = RUNTIME_CATEGORIES[category]
    workers = [w for w in _json(SYNTHETIC / "workers.json") if w.get("type") == kind]
    return HordeSnapshot(
        model_type=kind,
        status=tuple(
            HordeModelStatus.model_validate(e) for e in _json(SYNTHETIC / f"status_models_{kind}.json")
        ),
        stats=HordeModelStats.model_validate(_json(SYNTHETIC / f"stats_models_{kind}.json")),
        workers=tuple(HordeWorker.model_validate(w) for w in workers),
    )


def copy_name(name: str, copy: int) -> str:
    """Spelling of ``name`` in copy ``copy`` (0 = unchanged); consistent for reference and Horde names."""
    if copy == 0:
        return name
    model, separator, tag = name.partition(USER_TAG_SEPARATOR)
    head, slash, tail = model.rpartition("/")
    return f"{head}{slash}copy{copy}-{tail.lstrip()}{separator}{tag}"


def scale_reference(reference: ReferenceSnapshot, factor: int) -> ReferenceSnapshot:
    """``factor`` copies of every record, copy by copy (reference order within a copy)."""
    records = tuple(
        record if copy == 0 else record.model_copy(update={"name": copy_name(record.name, copy)})
        for copy in range(factor)
        for record in reference.records
    )
    return reference.model_copy(update={"records": records, "version": f"{reference.version}x{factor}"})


def _scale_window(window: dict[str, int], factor: int) -> dict[str, int]:
    return {copy_name(name, copy): value for copy in range(factor) for name, value in window.items()}


def _scale_worker(worker: HordeWorker, copy: int) -> HordeWorker:
    if copy == 0:
        return worker
    return worker.model_copy(
        update={
            "id": f"{worker.id}-copy{copy}",
            "name": f"{worker.name} (copy {copy})",
            "models": tuple(copy_name(model, copy) for model in worker.models),
        }
    )


def scale_snapshot(snapshot: HordeSnapshot, factor: int) -> HordeSnapshot:
    """Every status entry, stats key and worker ``factor`` times; copy ``i`` serves copy ``i`` models."""
    copies = range(factor)
    stats = snapshot.stats
    return snapshot.model_copy(
        update={
            "status": tuple(
                s if c == 0 else s.model_copy(update={"name": copy_name(s.name, c)})
                for c in copies
                for s in snapshot.status or ()
            )
            if snapshot.status is not None
            else None,
            "stats": HordeModelStats(
                day=_scale_window(stats.day, factor),
                month=_scale_window(stats.month, factor),
                total=_scale_window(stats.total, factor),
            )
            if stats is not None
            else None,
            "workers": tuple(_scale_worker(w, c) for c in copies for w in snapshot.workers or ())
            if snapshot.workers is not None
            else None,
        }
    )


def horde_entries(snapshot: HordeSnapshot | None) -> int:
    """Status entries + distinct stats names + workers: the size of what the recompute reads."""
    if snapshot is None:
        return 0
    stats = snapshot.stats
    names = (stats.day.keys() | stats.month.keys() | stats.total.keys()) if stats is not None else set()
    return len(snapshot.status or ()) + len(names) + len(snapshot.workers or ())
