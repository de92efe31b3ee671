"""Issue 15: the generation basis is a typed value whose pointer fields are byte-identical to the
plain dict it replaced (same names, order and string forms), so stored pointers, the gateway's
readers and the golden views stay the same."""

from __future__ import annotations

from datetime import UTC, datetime

from services.analytics.recompute import basis_of
from services.analytics.state import AnalyticsState
from shared.domain.categories import ModelCategory
from shared.domain.views import VIEW_SCHEMA_VERSION
from shared.store.basis import GenerationBasis, newest_capture_ms
from tests.support.events import DATA, reference_event, stats_event, status_event, synthetic

IMAGE = ModelCategory.IMAGE_GENERATION
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
COMPUTED_AT = int(NOW.timestamp())


def test_the_fields_of_a_basis_without_inputs_are_those_of_the_former_dict() -> None:
    basis = basis_of(AnalyticsState().inputs(IMAGE), computed_at=COMPUTED_AT)
    assert list(basis.to_fields().items()) == [
        ("computed_at", str(COMPUTED_AT)),
        ("reference_version", ""),
        ("reference_detected_at_ms", "0"),
        ("reference_seq", "-1"),
        ("status_at_ms", "0"),
        ("stats_at_ms", "0"),
        ("workers_at_ms", "0"),
        ("status_seq", "-1"),
        ("stats_seq", "-1"),
        ("workers_seq", "-1"),
        ("status_hash", ""),
        ("stats_hash", ""),
        ("workers_hash", ""),
        ("view_schema", str(VIEW_SCHEMA_VERSION)),
        ("reference_models", ""),
        ("styles_version", ""),
        # Added with partition growth (issue 15): the materialiser sets the count it read under.
        ("partitions", "-1"),
    ]


def test_the_fields_of_a_full_basis_are_those_of_the_former_dict() -> None:
    state = AnalyticsState()
    reference = reference_event(IMAGE, DATA / "reference/image/stable_diffusion.json", detected_at=NOW)
    status = status_event(synthetic("status_models_image.json"), captured_at=NOW)  # type: ignore[arg-type]
    stats = stats_event(synthetic("stats_models_image.json"), captured_at=NOW)  # type: ignore[arg-type]
    state.apply(reference, offset=3)
    state.apply(status, offset=7)
    state.apply(stats, offset=8)
    fields = basis_of(state.inputs(IMAGE), computed_at=COMPUTED_AT).to_fields()
    ms = str(COMPUTED_AT * 1000)
    assert fields == {
        "computed_at": str(COMPUTED_AT),
        "reference_version": reference.version,
        "reference_detected_at_ms": ms,
        "reference_seq": "3",
        "status_at_ms": ms,
        "stats_at_ms": ms,
        "workers_at_ms": "0",
        "status_seq": "7",
        "stats_seq": "8",
        "workers_seq": "-1",
        "status_hash": status.content_hash,
        "stats_hash": stats.content_hash,
        "workers_hash": "",
        "view_schema": str(VIEW_SCHEMA_VERSION),
        "reference_models": str(len(reference.records)),
        "styles_version": "",
        "partitions": "-1",
    }


def test_read_back_pointer_fields_parse_to_the_same_basis() -> None:
    """What the store wrote, read back with the fields the swap adds (``owner_epoch``), parses to
    the basis that was written."""
    basis = GenerationBasis(
        computed_at=5, reference_version="v1", reference_detected_at_ms=4000, reference_seq=2,
        status_at_ms=3000, stats_at_ms=2000, workers_at_ms=1000, status_seq=1, stats_seq=0,
        workers_seq=-1, status_hash="s", stats_hash="t", workers_hash="", view_schema=9,
        reference_models=0, styles_version="",
    )  # fmt: skip
    assert GenerationBasis.from_fields(basis.to_fields() | {"owner_epoch": "12"}) == basis
    assert basis.captured_at_ms == 3000
    assert basis.captured_at() == datetime.fromtimestamp(3, UTC)


def test_a_pointer_written_before_a_field_existed_reads_as_none() -> None:
    """Missing offsets are -1 (the swap's rule for old pointers), missing times 0, a missing model
    count ``None`` (not "no models", D17)."""
    legacy = GenerationBasis.from_fields({"computed_at": "7", "status_at_ms": "1000", "reference_models": ""})
    assert legacy.computed_at == 7
    assert (legacy.reference_seq, legacy.status_seq, legacy.stats_at_ms) == (-1, -1, 0)
    assert legacy.reference_models is None
    assert newest_capture_ms({"stats_at_ms": "9", "workers_at_ms": ""}) == 9
    assert newest_capture_ms({}) == 0


def test_every_basis_field_the_gateway_reads_is_one_the_worker_writes() -> None:
    """The gateway reads a subset of the pointer by name (its hot path reads no more than it needs):
    each name must be a field of the typed basis, so renaming one fails here, not in production."""
    from services.gateway.freshness import _BASIS_FIELD
    from services.gateway.pointers import ENDPOINTS, POINTER_FIELDS

    written = set(GenerationBasis(computed_at=0).to_fields())
    assert POINTER_FIELDS[0] == "generation"
    assert set(POINTER_FIELDS[1:]) <= written
    assert set(_BASIS_FIELD.values()) <= written
    assert {f"{endpoint}_hash" for endpoint in ENDPOINTS} <= written
