"""Issue 13: staleness follows the content served, not merely whether the AI Horde answers."""

from __future__ import annotations

from services.gateway.freshness import provenance, stale_from
from shared.domain.horde.confirmation import Poll, confirmation_fields
from shared.store.generations import CurrentGeneration

LIMIT = 20.0
#: The served generation: status and stats captured at t = 1000 s, with hashes A and S.
SERVED = {
    "computed_at": "1000",
    "reference_version": "r",
    "status_at_ms": "1000000",
    "stats_at_ms": "1000000",
    "status_hash": "A",
    "stats_hash": "S",
}


def pointer(**polls: Poll | None) -> CurrentGeneration:
    basis = dict(SERVED)
    basis.update(confirmation_fields(basis, dict(polls)))
    return CurrentGeneration("g", basis)


def stale(current: CurrentGeneration, now: float, view: str = "with-stats") -> bool:
    return provenance(current, view, stale_after_seconds=LIMIT, now=now).stale


def test_a_poll_that_saw_the_served_content_confirms_it() -> None:
    current = pointer(status=Poll(5_000_000, "A", 1_000_000), stats=Poll(4_000_000, "S", 1_000_000))
    assert not stale(current, 5_019)
    assert stale(current, 5_021)
    assert (
        provenance(current, "with-stats", stale_after_seconds=LIMIT, now=5_000).headers[
            "X-Horde-Confirmed-At"
        ]
        == "5000"
    )
    assert (
        "X-Horde-Moved-On"
        not in provenance(current, "with-stats", stale_after_seconds=LIMIT, now=5_000).headers
    )


def test_a_poll_that_saw_other_content_does_not_confirm_and_the_answer_turns_stale_within_the_limit() -> None:
    """Fresh while frozen: polls keep succeeding (frame 4) while we still serve frame 0."""
    moved = pointer(status=Poll(5_000_000, "B", 3_000_000), stats=Poll(5_000_000, "S", 1_000_000))
    assert "status_confirmed_at_ms" not in moved.basis
    assert not stale(moved, 3_000 + LIMIT - 1), "the served content was true until the Horde moved on"
    assert stale(moved, 3_000 + LIMIT + 1)
    assert stale_from(moved, "with-stats", stale_after_seconds=LIMIT) == 3_000 + LIMIT
    found = provenance(moved, "deletion-risk", stale_after_seconds=LIMIT, now=3_000 + LIMIT + 1)
    assert found.headers["X-Data-Stale"] == "true"
    assert found.headers["X-Horde-Moved-On"] == "status"
    assert '"stale":true' in found.json


def test_stats_moving_on_makes_runtime_answers_stale_but_not_statistics() -> None:
    moved = pointer(status=Poll(5_000_000, "A", 1_000_000), stats=Poll(5_000_000, "T", 2_000_000))
    assert stale(moved, 2_000 + LIMIT + 1)
    found = provenance(moved, "deletion-risk", stale_after_seconds=LIMIT, now=2_000)
    assert found.headers["X-Horde-Moved-On"] == "stats"
    assert not stale(moved, 2_000 + LIMIT + 1, view="statistics")


def test_a_health_record_lagging_behind_the_served_generation_does_not_make_it_stale() -> None:
    """Health of the previous content (B) while the new generation (A, captured at 1000 s) is served."""
    lagging = pointer(status=Poll(900_000, "B", 100_000))
    assert not stale(lagging, 1_000 + LIMIT - 1)


def test_version_1_health_without_a_hash_confirms_as_before() -> None:
    legacy = pointer(status=Poll(5_000_000, None, None))
    assert legacy.basis["status_confirmed_at_ms"] == "5000000"
    assert not stale(legacy, 5_010)
    assert stale(legacy, 5_021)


def test_no_health_at_all_ages_from_the_snapshot() -> None:
    bare = pointer(status=None)
    assert not stale(bare, 1_010)
    assert stale(bare, 1_021)
