"""Impact of removing each model of a category, from the reference, the merged Horde data and the
styles: pure and deterministic (same inputs, same values in the same order)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shared.domain.categories import ModelCategory
from shared.domain.horde.runtime import CombinedModelStatistics
from shared.domain.impact.models import BrokenStyle, HostingWorker, ModelImpact, StyleUse
from shared.domain.impact.styles import StyleCatalog
from shared.domain.reference.records import ReferenceRecord
from shared.domain.text_names import group_key

_GIB = 1024**3


def gib(size_bytes: int) -> float:
    """Bytes as GiB rounded to 2 places (the unit of the risk rows' ``size_gb``)."""
    return round(size_bytes / _GIB, 2)


def broken_styles(
    records: Sequence[ReferenceRecord], catalog: StyleCatalog | None
) -> tuple[BrokenStyle, ...]:
    """Styles naming a model absent from the reference (case-insensitive), in file order."""
    if catalog is None:
        return ()
    known = {r.name.casefold() for r in records}
    return tuple(
        BrokenStyle(name=s.name, model=s.model) for s in catalog.styles if s.model.casefold() not in known
    )


def _workers_by_model(
    records: Sequence[ReferenceRecord], merged: Mapping[str, CombinedModelStatistics]
) -> tuple[dict[str, list[tuple[str, str]]], dict[str, set[str]]]:
    """Per model its serving workers (id, name) ordered by name; per worker id its reference models."""
    hosting: dict[str, list[tuple[str, str]]] = {}
    serves: dict[str, set[str]] = {}
    for record in records:
        stats = merged.get(record.name)
        summaries = stats.worker_summaries if stats is not None else None
        workers = [(wid, s.name) for wid, s in (summaries or {}).items()]
        hosting[record.name] = workers
        for wid, _ in workers:
            serves.setdefault(wid, set()).add(record.name)
    return hosting, serves


def compute_impacts(
    records: Sequence[ReferenceRecord],
    merged: Mapping[str, CombinedModelStatistics],
    category: ModelCategory,
    catalog: StyleCatalog | None,
) -> dict[str, ModelImpact]:
    """Impact of every reference model by name. ``merged`` must carry ``worker_summaries`` (the
    with-workers merge); styles apply to image generation only."""
    hosting, serves = _workers_by_model(records, merged)
    style_catalog = catalog if category is ModelCategory.IMAGE_GENERATION else None
    in_categories = style_catalog.categories_of_style() if style_catalog is not None else {}
    styles_of = style_catalog.by_model() if style_catalog is not None else {}
    text = category is ModelCategory.TEXT_GENERATION
    served_in_family: dict[str, list[str]] = {}
    if text:
        for record in records:
            if hosting[record.name] or _workers(merged, record.name) > 0:
                served_in_family.setdefault(group_key(record.name), []).append(record.name)
    impacts: dict[str, ModelImpact] = {}
    for record in records:
        workers = tuple(
            HostingWorker(id=wid, name=name, serves_only_this=serves[wid] == {record.name})
            for wid, name in hosting[record.name]
        )
        styles = tuple(
            StyleUse(name=s.name, categories=in_categories.get(s.name, ()))
            for s in styles_of.get(record.name.casefold(), ())
        )
        size = (
            record.size_on_disk_bytes if record.size_on_disk_bytes and record.size_on_disk_bytes > 0 else None
        )
        family = group_key(record.name) if text else None
        impacts[record.name] = ModelImpact(
            styles=styles,
            hosting_workers=workers,
            sole_serving_workers=sum(1 for w in workers if w.serves_only_this),
            disk_reclaimed_gb=gib(size) if size is not None else None,
            size_on_disk_bytes=size,
            family=family,
            leaves_family_unserved=(
                not any(m != record.name for m in served_in_family.get(family, ()))
                if family is not None
                else None
            ),
        )
    return impacts


def _workers(merged: Mapping[str, CombinedModelStatistics], name: str) -> int:
    stats = merged.get(name)
    return stats.worker_count if stats is not None else 0
