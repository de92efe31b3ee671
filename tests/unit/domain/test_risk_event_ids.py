"""Risk event ids name one event (issue 13): numbered per category, never reused, reproduced by
a replay of the same changes, and a crashed owner's last change is re-found, not republished."""

from __future__ import annotations

from shared.domain.risk.changes import PublishedChange, number_changes, risk_event_id

CHANGES = [("a", ("added",)), ("b", ("flags",))]
CURRENT: dict[str, tuple[object, ...]] = {"a": (1,), "b": (2,)}


def test_a_category_returning_to_an_earlier_generation_gets_new_ids() -> None:
    """A → B → A: the third wave has the first wave's generation, yet none of its ids."""
    first = number_changes("image_generation", "A", CHANGES, CURRENT, last_sequence=0, pending=None)
    second = number_changes("image_generation", "B", CHANGES, CURRENT, last_sequence=2, pending=None)
    third = number_changes("image_generation", "A", CHANGES, CURRENT, last_sequence=4, pending=None)
    ids = [c.event_id for wave in (first, second, third) for c in wave]
    assert len(set(ids)) == 6
    assert [c.sequence for wave in (first, second, third) for c in wave] == [1, 2, 3, 4, 5, 6]


def test_a_replay_from_the_same_published_state_reproduces_the_ids() -> None:
    once = number_changes("text_generation", "G", CHANGES, CURRENT, last_sequence=7, pending=None)
    again = number_changes("text_generation", "G", CHANGES, CURRENT, last_sequence=7, pending=None)
    assert once == again
    assert once[0].event_id == risk_event_id("text_generation", "a", "G", 8)


def test_the_change_a_crashed_owner_published_keeps_its_number_and_is_not_published_again() -> None:
    pending = PublishedChange("a", "G", 8, "id-8", (1,))
    numbered = number_changes("image_generation", "G", CHANGES, CURRENT, last_sequence=8, pending=pending)
    assert [(c.model, c.sequence, c.event_id, c.already_published) for c in numbered] == [
        ("a", 8, "id-8", True),
        ("b", 9, risk_event_id("image_generation", "b", "G", 9), False),
    ]


def test_a_pending_change_of_another_generation_or_state_is_a_new_event() -> None:
    for pending in (PublishedChange("a", "OLD", 8, "id-8", (1,)), PublishedChange("a", "G", 8, "id-8", (0,))):
        numbered = number_changes("image_generation", "G", CHANGES, CURRENT, last_sequence=8, pending=pending)
        assert [c.sequence for c in numbered] == [9, 10]
        assert not any(c.already_published for c in numbered)
