"""Impact and removal proposals on the real data (issue 18): the reference before batch 261
(``reference/previous``), the styles of 2026-06-17 (``styles/``), hand-written Horde snapshots."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from shared.domain.categories import ModelCategory
from shared.domain.history.fields import LifecycleFields
from shared.domain.horde.payloads import HordeWorker
from shared.domain.impact.models import BrokenStyle
from shared.domain.impact.styles import StyleCatalog, StylesFormatError, parse_styles
from shared.domain.proposal.build import PolicyConflictError, build_proposal
from shared.domain.proposal.markdown import render_markdown
from shared.domain.proposal.models import ProposalBasis, RemovalPolicy
from shared.domain.proposal.patch import PatchUnavailableError, csv_row_spans, patch_reference
from shared.domain.reference.diff import diff_references
from shared.domain.reference.parse import parse_reference
from shared.domain.reference.records import ReferenceSnapshot
from shared.domain.risk.models import ModelDeletionRiskInfo
from shared.domain.risk.presets import DeletionRiskFilterPreset
from shared.domain.risk.thresholds import RiskThresholds
from shared.domain.views import build_category_views
from tests.unit.domain.horde_builders import snapshot, status, worker

DATA = Path(__file__).resolve().parents[2] / "fixtures" / "data"
IMAGE_FILE = DATA / "reference" / "previous" / "image" / "stable_diffusion.json"
TEXT_CSV = DATA / "reference" / "previous" / "text" / "models.csv"
BATCH_261 = ("Anime Illust Diffusion XL", "ChilloutMix", "Dark Sushi Mix", "Furry Epoch")
IMAGE = ModelCategory.IMAGE_GENERATION
TEXT = ModelCategory.TEXT_GENERATION
THRESHOLDS = RiskThresholds()


@cache
def catalog() -> StyleCatalog:
    folder = DATA / "styles"
    return parse_styles((folder / "styles.json").read_bytes(), (folder / "categories.json").read_bytes())


@cache
def image_reference() -> ReferenceSnapshot:
    return parse_reference(IMAGE, IMAGE_FILE.read_bytes(), format="legacy", version="previous")


def image_rows(*workers: HordeWorker) -> tuple[tuple[ModelDeletionRiskInfo, ...], tuple[BrokenStyle, ...]]:
    horde = snapshot(
        "image",
        statuses=[status("stable_diffusion", 3), status("ChilloutMix", 1)],
        day={}, month={"stable_diffusion": 100}, total={"stable_diffusion": 1000},
        workers=list(workers),
    )  # fmt: skip
    views = build_category_views(image_reference(), horde, THRESHOLDS, computed_at=0, styles=catalog())
    assert views.runtime is not None
    return views.runtime.risk_models[(False, False)], views.runtime.broken_styles


BASIS = ProposalBasis(category=IMAGE, generation="g1", reference_version="previous", styles_version="s1")


def test_batch_261_proposal_lists_style_breakers_apart_from_clean_removals() -> None:
    """Done-when: AIDXL and Dark Sushi Mix break styles, ChilloutMix and Furry Epoch are clean."""
    rows, broken = image_rows(worker("w1", ["stable_diffusion", "ChilloutMix"], model_type="image"))
    proposal = build_proposal(
        rows,
        RemovalPolicy(include=BATCH_261),
        BASIS,
        THRESHOLDS,
        already_broken=broken,
    )
    assert [c.name for c in proposal.candidates] == sorted(BATCH_261, key=str.casefold)
    assert {(s.model, s.style) for s in proposal.would_break.styles} == {
        ("Anime Illust Diffusion XL", "anime illust"),
        ("Dark Sushi Mix", "dark sushi"),
    }
    assert proposal.clean_removals == ("ChilloutMix", "Furry Epoch")
    assert proposal.would_break.sole_serving_workers == ()
    sizes = {c.name: c.impact.size_on_disk_bytes for c in proposal.candidates}
    assert sizes["ChilloutMix"] == 2132857708  # size_on_disk_bytes of the reference file
    assert proposal.totals.size_on_disk_bytes == 6776583201 + 2132857708 + 2132625438 + 3852166639
    markdown = render_markdown(proposal)
    would_break = markdown.split("### Would break")[1].split("### Clean removals")[0]
    assert "`Anime Illust Diffusion XL`: style `anime illust`" in would_break
    assert "`Dark Sushi Mix`: style `dark sushi`" in would_break
    clean = markdown.split("### Clean removals")[1].split("###")[0]
    assert "`ChilloutMix`" in clean
    assert "`Furry Epoch`" in clean
    assert "Dark Sushi" not in clean


def test_batch_261_patch_removes_exactly_the_candidates_and_parses() -> None:
    """Done-when: the patched file parses as the watcher parses it; its diff removes the four."""
    original = IMAGE_FILE.read_text(encoding="utf-8")
    assert patch_reference(IMAGE, "legacy", original, []) == original  # byte-compatible formatting
    patched = patch_reference(IMAGE, "legacy", original, BATCH_261)
    after = parse_reference(IMAGE, patched.encode(), format="legacy", version="after")
    diff = diff_references(image_reference(), after)
    assert sorted(diff.removed) == sorted(BATCH_261)
    assert diff.added == ()
    assert diff.modified == ()
    assert not after.rejections


def test_style_naming_a_model_absent_from_the_reference_is_reported_once() -> None:
    rows, broken = image_rows()
    assert [(s.name, s.model) for s in broken] == [
        (s.name, s.model) for s in catalog().styles if s.model == "Qwen-Image_fp8"
    ]
    assert all(
        s.name not in {u.name for r in rows for u in (r.impact.styles if r.impact else ())} for s in broken
    )
    proposal = build_proposal(
        rows, RemovalPolicy(include=("ChilloutMix",)), BASIS, THRESHOLDS, already_broken=broken
    )
    markdown = render_markdown(proposal)
    assert markdown.count("Qwen-Image_fp8") == len(broken)
    assert "Styles already broken" in markdown


def test_worker_serving_only_proposed_models_is_listed() -> None:
    only = worker("w-only", ["ChilloutMix", "Furry Epoch"], name="Only Old", model_type="image")
    mixed = worker("w-mixed", ["ChilloutMix", "stable_diffusion"], name="Mixed", model_type="image")
    rows, _ = image_rows(only, mixed)
    chill = next(r for r in rows if r.name == "ChilloutMix")
    assert chill.impact is not None
    assert [(w.id, w.serves_only_this) for w in chill.impact.hosting_workers] == [
        ("w-mixed", False), ("w-only", False)
    ]  # fmt: skip
    proposal = build_proposal(rows, RemovalPolicy(include=("ChilloutMix", "Furry Epoch")), BASIS, THRESHOLDS)
    assert [(w.id, w.models) for w in proposal.would_break.sole_serving_workers] == [
        ("w-only", ("ChilloutMix", "Furry Epoch"))
    ]
    assert proposal.clean_removals == ()
    one = build_proposal(rows, RemovalPolicy(include=("ChilloutMix",)), BASIS, THRESHOLDS)
    assert one.would_break.sole_serving_workers == ()


def test_policy_candidates_that_break_styles_are_held_back_unless_included() -> None:
    rows, _ = image_rows()
    policy = RemovalPolicy(presets=(DeletionRiskFilterPreset.NO_WORKERS,))
    proposal = build_proposal(rows, policy, BASIS, THRESHOLDS)
    held = {c.name for c in proposal.held_back}
    assert "Dark Sushi Mix" in held
    assert "Dark Sushi Mix" not in {c.name for c in proposal.candidates}
    assert all(c.impact.styles for c in proposal.held_back)
    assert proposal.would_break.styles == ()
    forced = build_proposal(
        rows, policy.model_copy(update={"include": ("dark sushi mix",)}), BASIS, THRESHOLDS
    )
    assert "Dark Sushi Mix" in {c.name for c in forced.candidates}
    excluded = build_proposal(
        rows, policy.model_copy(update={"exclude": ("ChilloutMix",)}), BASIS, THRESHOLDS
    )
    assert "ChilloutMix" not in {c.name for c in excluded.candidates}


def test_min_days_at_risk_is_noted_when_rows_have_no_lifecycle_fields() -> None:
    rows, _ = image_rows()
    policy = RemovalPolicy(presets=(DeletionRiskFilterPreset.CRITICAL,), min_days_at_risk=14)
    proposal = build_proposal(rows, policy, BASIS, THRESHOLDS)
    assert proposal.notes == ("min_days_at_risk=14 not applied: the risk rows carry no days_at_risk",)


def test_include_and_exclude_of_one_name_is_refused() -> None:
    rows, _ = image_rows()
    with pytest.raises(PolicyConflictError, match="chilloutmix"):
        build_proposal(
            rows, RemovalPolicy(include=("ChilloutMix",), exclude=("chilloutmix",)), BASIS, THRESHOLDS
        )


def test_same_inputs_give_the_same_bytes() -> None:
    first = build_proposal(image_rows()[0], RemovalPolicy(include=BATCH_261), BASIS, THRESHOLDS)
    second = build_proposal(image_rows()[0], RemovalPolicy(include=BATCH_261), BASIS, THRESHOLDS)
    assert first.model_dump_json() == second.model_dump_json()
    assert render_markdown(first) == render_markdown(second)


@pytest.mark.parametrize(
    ("styles", "categories", "message"),
    [
        (b"", b"{}", "styles.json is empty"),
        (b"[1]", b"{}", "must be a JSON object"),
        (b'{"a": {"prompt": "x"}}', b"{}", "style 'a' has no 'model'"),
        (b'{"a": {"model": "m"}}', b'{"c": "a"}', "category 'c' must be a list"),
        (b'{"a": {"model": "m"', b"{}", "styles.json is not JSON"),
    ],
)
def test_malformed_styles_are_rejected_with_a_clear_error(
    styles: bytes, categories: bytes, message: str
) -> None:
    with pytest.raises(StylesFormatError, match=message):
        parse_styles(styles, categories)


def test_style_categories_are_resolved_recursively() -> None:
    styles = json.dumps({"s1": {"model": "M"}, "s2": {"model": "m"}}).encode()
    categories = json.dumps({"inner": ["s1"], "outer": ["inner", "s2"], "loop": ["loop", "outer"]}).encode()
    parsed = parse_styles(styles, categories)
    assert parsed.categories_of_style() == {"s1": ("inner", "loop", "outer"), "s2": ("loop", "outer")}
    assert [s.name for s in parsed.styles_of_model("m")] == ["s1", "s2"]


def test_text_patch_keeps_every_other_byte_of_models_csv() -> None:
    original = TEXT_CSV.read_text(encoding="utf-8")
    assert patch_reference(TEXT, "csv", original, []) == original
    reference = parse_reference(TEXT, original, format="csv", version="v")
    victims = [reference.records[0].name, reference.records[5].name]
    patched = patch_reference(TEXT, "csv", original, victims)
    after = parse_reference(TEXT, patched, format="csv", version="w")
    assert sorted(diff_references(reference, after).removed) == sorted(victims)
    kept = [text for row, text in csv_row_spans(original) if not row or row[0] not in victims]
    assert patched == "".join(kept)
    with pytest.raises(PatchUnavailableError, match=r"not in models\.csv"):
        patch_reference(TEXT, "csv", original, ["no/such-model"])


def test_patch_refuses_to_reformat_a_file_in_another_formatting() -> None:
    with pytest.raises(PatchUnavailableError, match="formatting"):
        patch_reference(IMAGE, "legacy", '{"a": {"name": "a"}}', ["a"])
    with pytest.raises(PatchUnavailableError, match=r"models\.csv"):
        patch_reference(TEXT, "legacy", "{}", [])


def test_text_family_left_unserved() -> None:
    csv_text = "name,parameters_bn\nA/Fam-7B,7\nA/Fam-13B,13\nB/Other-7B,7\n"
    reference = parse_reference(TEXT, csv_text, format="csv", version="t")
    horde = snapshot(
        "text", statuses=[status("A/Fam-13B", 1)], day={}, month={}, total={},
        workers=[worker("w", ["A/Fam-13B"])],
    )  # fmt: skip
    views = build_category_views(reference, horde, THRESHOLDS, computed_at=0)
    assert views.runtime is not None
    rows = {r.name: r for r in views.runtime.risk_models[(False, False)]}
    seven, thirteen = rows["A/Fam-7B"].impact, rows["A/Fam-13B"].impact
    assert seven is not None
    assert thirteen is not None
    assert seven.family == thirteen.family
    assert seven.leaves_family_unserved is False
    assert thirteen.leaves_family_unserved is True
    assert thirteen.sole_serving_workers == 1
    basis = BASIS.model_copy(update={"category": TEXT})
    proposal = build_proposal(list(rows.values()), RemovalPolicy(include=("A/Fam-13B",)), basis, THRESHOLDS)
    assert proposal.would_break.families_left_unserved == (thirteen.family,)
    assert proposal.totals.candidates_without_size == 1


def test_lifecycle_fields_gate_policy_candidates_but_not_the_include_list() -> None:
    """Composes with the history: rows whose ``lifecycle`` carries ``days_at_risk``,
    ``in_grace_period`` or ``protected`` are filtered by the policy; ``include`` still wins."""

    def life(days: int, grace: bool = False, protected: bool = False) -> LifecycleFields:
        return LifecycleFields(
            days_at_risk=days,
            in_grace_period=grace,
            protected=protected,
            reasons=(f"at risk for {days} days",),
        )

    rows, _ = image_rows()
    lifecycle = {
        "ChilloutMix": life(30),
        "Furry Epoch": life(3),
        "Kenshi": life(40, grace=True),
    }
    dressed = [
        r.model_copy(update={"lifecycle": lifecycle.get(r.name, life(0, protected=True))}) for r in rows
    ]
    policy = RemovalPolicy(presets=(DeletionRiskFilterPreset.NO_WORKERS,), min_days_at_risk=14)
    proposal = build_proposal(dressed, policy, BASIS, THRESHOLDS)
    assert [c.name for c in proposal.candidates] == ["ChilloutMix"]
    assert proposal.candidates[0].evidence.days_at_risk == 30
    assert proposal.candidates[0].evidence.lifecycle_reasons == ("at risk for 30 days",)
    assert proposal.notes == ()
    forced = build_proposal(
        dressed, policy.model_copy(update={"include": ("Furry Epoch",)}), BASIS, THRESHOLDS
    )
    assert [c.name for c in forced.candidates] == ["ChilloutMix", "Furry Epoch"]
