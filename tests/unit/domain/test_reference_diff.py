"""Reference diffs on the real previous → current reference versions (fixtures README §1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.domain.categories import ModelCategory
from shared.domain.reference.diff import ModelChange, ReferenceDiff, diff_references, removal_share
from shared.domain.reference.parse import parse_reference
from shared.domain.reference.records import ReferenceRecord, ReferenceSnapshot

REFERENCE = Path(__file__).parents[2] / "fixtures" / "data" / "reference"
Pair = tuple[ReferenceSnapshot, ReferenceSnapshot]
#: The upstream commit 46fdd9e against its predecessor (fixtures README, reference/previous).
IMAGE_ADDED = ["Nova Flat XL", "Nova Furry XL", "PerfectDeliberate", "Rag Illustrious Mix", "Ri-Mix"]
IMAGE_REMOVED = ["Anime Illust Diffusion XL", "ChilloutMix", "Dark Sushi Mix", "Furry Epoch"]
NOVA_FIELDS = {"version", "description", "homepage", "size_on_disk_bytes", "config"}
IMAGE = ModelCategory.IMAGE_GENERATION
TEXT = ModelCategory.TEXT_GENERATION


def _load(path: str, category: ModelCategory) -> ReferenceSnapshot:
    return parse_reference(category, (REFERENCE / path).read_bytes(), format="legacy", version=path)


@pytest.fixture(scope="module")
def image_pair() -> tuple[ReferenceSnapshot, ReferenceSnapshot]:
    return _load("previous/image/stable_diffusion.json", IMAGE), _load("image/stable_diffusion.json", IMAGE)


@pytest.fixture(scope="module")
def text_pair() -> tuple[ReferenceSnapshot, ReferenceSnapshot]:
    return _load("previous/text/db.json", TEXT), _load("text/db.json", TEXT)


def test_image_diff_matches_the_upstream_commit(image_pair: Pair) -> None:
    previous, current = image_pair
    diff = diff_references(previous, current)
    assert sorted(diff.added) == IMAGE_ADDED
    assert sorted(diff.removed) == IMAGE_REMOVED
    assert [change.name for change in diff.modified] == ["Nova Anime XL"]
    assert set(diff.modified[0].fields) == NOVA_FIELDS


def test_diff_order_follows_the_reference(image_pair: Pair) -> None:
    previous, current = image_pair
    diff = diff_references(previous, current)
    current_order = current.names()
    previous_order = previous.names()
    assert list(diff.added) == sorted(diff.added, key=current_order.index)
    assert list(diff.removed) == sorted(diff.removed, key=previous_order.index)
    assert diff_references(previous, current) == diff  # deterministic


def test_text_diff_counts_canonical_models(text_pair: Pair) -> None:
    previous, current = text_pair
    diff = diff_references(previous, current)
    assert len(diff.added) == 8
    assert "google/gemma-4-12B-it" in diff.added
    assert "coder3101/gemma-4-E4B-it-qat-q4_0-unquantized-heretic" in diff.added
    assert diff.removed == ()
    assert sorted(c.name for c in diff.modified) == sorted(
        f"google/gemma-4-{size}{suffix}"
        for size in ("26B-A4B", "31B", "E2B", "E4B")
        for suffix in ("", "-it")
    )
    assert all("/" in name and not name.startswith(("aphrodite/", "koboldcpp/")) for name in diff.added)
    assert all("instruct_format" in change.fields for change in diff.modified)


def test_first_sight_adds_everything(image_pair: Pair) -> None:
    _, current = image_pair
    diff = diff_references(None, current)
    assert diff.added == tuple(current.names())
    assert diff.removed == ()
    assert diff.modified == ()
    assert removal_share(diff, None) == 0.0


def test_identical_versions_have_an_empty_diff(image_pair: Pair) -> None:
    _, current = image_pair
    diff = diff_references(current, current.model_copy(update={"version": "other"}))
    assert diff == ReferenceDiff()
    assert diff.is_empty


def test_falls_back_to_normalised_fields_without_raw(
    image_pair: Pair,
) -> None:
    """State rebuilt from Kafka has no ``raw``: fields are then the normalised ones."""
    previous, current = image_pair
    stripped = previous.model_copy(
        update={"records": tuple(r.model_copy(update={"raw": {}}) for r in previous.records)}
    )
    diff = diff_references(stripped, current)
    assert diff.modified == (
        ModelChange("Nova Anime XL", ("description", "downloads", "size_on_disk_bytes", "version")),
    )


def test_absent_and_null_fields_differ() -> None:
    base = ReferenceRecord(name="m", category=IMAGE, baseline="flux_1", raw={"a": 1, "b": None})
    other = base.model_copy(update={"raw": {"a": 1}})
    diff = diff_references(
        ReferenceSnapshot(category=IMAGE, version="1", records=(base,)),
        ReferenceSnapshot(category=IMAGE, version="2", records=(other,)),
    )
    assert diff.modified == (ModelChange("m", ("b",)),)


def test_removal_share(image_pair: Pair) -> None:
    previous, current = image_pair
    assert removal_share(diff_references(previous, current), previous) == pytest.approx(4 / 160)
    empty = ReferenceSnapshot(category=IMAGE, version="empty")
    assert removal_share(diff_references(previous, empty), previous) == 1.0
    assert removal_share(diff_references(empty, current), empty) == 0.0


def test_categories_must_match(image_pair: Pair) -> None:
    with pytest.raises(ValueError, match="cannot diff"):
        diff_references(image_pair[0], ReferenceSnapshot(category=TEXT, version="x"))
