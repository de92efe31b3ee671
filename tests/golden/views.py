"""Golden hashes of every rendered view over the recorded data (issue 15: refactors keep views
byte-identical).

Each case builds one category's views with ``shared.domain.views.build_category_views`` from files
in tests/fixtures/data and hashes every body ``render_views`` returns and every other value the
worker stores with them (``services.analytics.recompute.materialise``: gzip prefixes, listing
indexes with the risk summary rows). The pinned hashes live in
``views.json`` beside this module; ``tests/unit/domain/test_views_golden.py`` compares.

A change that is meant to alter the views (a new field, a schema version bump, another branch
merged, e.g. lifecycle fields on risk rows) regenerates the file, and the diff shows which views
moved:

    .venv/bin/python -m tests.golden.views --write

(which also rewrites ``layout.json``, the pinned layout of the risk views: see ``layout.py``).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from services.analytics.recompute import materialise
from shared.domain.categories import ModelCategory
from shared.domain.horde.payloads import HordeModelStats, HordeModelStatus, HordeSnapshot, HordeWorker
from shared.domain.reference.legacy_image import LEGACY_IMAGE_FILES
from shared.domain.reference.parse import V2_FILES, ReferenceFormat, parse_reference
from shared.domain.reference.records import ReferenceSnapshot
from shared.domain.risk.thresholds import RiskThresholds
from shared.domain.views import build_category_views, render_views
from shared.materialized.index_codec import MAGIC, decode_index
from shared.materialized.risk_listing import RiskListingIndex
from shared.materialized.with_stats_listing import WithStatsIndex
from tests.golden.layout import write as write_layout
from tests.support.events import DATA

GOLDEN = Path(__file__).with_name("views.json")
COMPUTED_AT = 1_782_000_000
IMAGE = ModelCategory.IMAGE_GENERATION
TEXT = ModelCategory.TEXT_GENERATION


def _reference(category: ModelCategory, relative: str, format: ReferenceFormat) -> ReferenceSnapshot:
    return parse_reference(category, (DATA / relative).read_bytes(), format=format, version=relative)


def _horde(model_type: str, status: str, stats: str, workers: str) -> HordeSnapshot:
    def load(relative: str) -> Any:
        return json.loads((DATA / relative).read_text(encoding="utf-8"))

    return HordeSnapshot(
        model_type=model_type,
        status=tuple(HordeModelStatus.model_validate(e) for e in load(status)),
        stats=HordeModelStats.model_validate(load(stats)),
        workers=tuple(
            HordeWorker.model_validate(w) for w in load(workers) if w.get("type", model_type) == model_type
        ),
    )


def _synthetic(model_type: str) -> HordeSnapshot:
    base = "horde_api/synthetic"
    return _horde(
        model_type, f"{base}/status_models_{model_type}.json", f"{base}/stats_models_{model_type}.json",
        f"{base}/workers.json",
    )  # fmt: skip


Case = Callable[[], tuple[ReferenceSnapshot, HordeSnapshot | None]]


def _static(
    category: ModelCategory, relative: str, format: ReferenceFormat
) -> tuple[ReferenceSnapshot, HordeSnapshot | None]:
    return _reference(category, relative, format), None


def _runtime(
    category: ModelCategory, relative: str, format: ReferenceFormat, horde: Callable[[], HordeSnapshot]
) -> tuple[ReferenceSnapshot, HordeSnapshot | None]:
    return _reference(category, relative, format), horde()


def cases() -> Iterator[tuple[str, Case]]:
    """Named inputs: every reference file and format, runtime views from synthetic and real captures."""
    for category, name in LEGACY_IMAGE_FILES.items():
        if (DATA / "reference/image" / name).exists():
            yield f"legacy/{category.value}", partial(_static, category, f"reference/image/{name}", "legacy")
    for category, name in V2_FILES.items():
        if (DATA / "reference/v2" / name).exists():
            yield f"v2/{category.value}", partial(_static, category, f"reference/v2/{name}", "v2")
    image, text = partial(_synthetic, "image"), partial(_synthetic, "text")
    yield (
        "synthetic/image",
        partial(_runtime, IMAGE, "reference/image/stable_diffusion.json", "legacy", image),
    )
    yield "synthetic/text-db", partial(_runtime, TEXT, "reference/text/db.json", "legacy", text)
    yield "synthetic/text-csv", partial(_runtime, TEXT, "reference/text/models.csv", "csv", text)
    yield "synthetic/text-v2", partial(_runtime, TEXT, "reference/v2/text_generation.json", "v2", text)
    captured_image = partial(
        _horde, "image", "horde_api/status_models_image.json", "horde_api/stats_models_image.json",
        "horde_api/workers.json",
    )  # fmt: skip
    yield (
        "captured/image-2024-06",
        partial(
            _runtime,
            IMAGE,
            "reference/at_capture/2024-06/image/stable_diffusion.json",
            "legacy",
            captured_image,
        ),
    )
    captured_text = partial(
        _horde, "text", "horde_api/synthetic/status_models_text.json", "horde_api/stats_models_text.json",
        "horde_api/workers.json",
    )  # fmt: skip
    yield (
        "captured/text-2025-06",
        partial(_runtime, TEXT, "reference/at_capture/2025-06/text/db.json", "legacy", captured_text),
    )


def hashes() -> dict[str, dict[str, str]]:
    """SHA-256 of every stored value (rendered bodies, their gzip prefixes, listing indexes), by
    case and key: what the analytics worker writes to Redis for these inputs."""
    out: dict[str, dict[str, str]] = {}
    for name, load in cases():
        reference, horde = load()
        thresholds = RiskThresholds()
        views = build_category_views(reference, horde, thresholds, computed_at=COMPUTED_AT)
        stored = materialise(views, thresholds)
        assert render_views(views).items() <= stored.items()
        out[name] = {
            key: hashlib.sha256(_content(key, value)).hexdigest() for key, value in sorted(stored.items())
        }
    return out


def _content(key: str, value: bytes) -> bytes:
    """What a stored value holds: a listing index in its layout-1 JSON whatever layout stores it
    (``shared.materialized.index_codec``), so the hashes pin its content, not its encoding."""
    if value.startswith(MAGIC):
        model = RiskListingIndex if key.startswith("deletion-risk") else WithStatsIndex
        return decode_index(model, value).model_dump_json().encode()
    return value


def main(argv: list[str]) -> None:
    text = json.dumps(hashes(), indent=2, sort_keys=True) + "\n"
    if "--write" in argv:
        GOLDEN.write_text(text)
        write_layout()
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
