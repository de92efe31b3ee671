"""Partitioning that survives a change of partition count (issue 15): every record's partition
follows from its key and the count, and the re-publish plan puts each key's newest record there."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.categories import ModelCategory
from shared.events.styles import STYLES_KEY
from shared.kafka import encode_key
from shared.repartition import Latest, plan_moves
from shared.topics import category_of_key, misplaced, partition_for, partition_of_key

IMAGE, TEXT, LORA = ModelCategory.IMAGE_GENERATION, ModelCategory.TEXT_GENERATION, ModelCategory.LORA


@pytest.mark.parametrize(
    ("key", "category"),
    [
        (encode_key("lora"), LORA),
        (encode_key("lora", "some/model"), LORA),
        (encode_key("text_generation", "2026-12-07"), TEXT),
        (encode_key("image"), IMAGE),
        (encode_key("text"), TEXT),
        (encode_key(STYLES_KEY), IMAGE),
        (b"nonsense", None),
        (None, None),
        (b"", None),
    ],
)
def test_the_category_of_every_key_we_write(key: bytes | None, category: ModelCategory | None) -> None:
    assert category_of_key(key) is category


def test_a_record_is_misplaced_when_the_count_moved_its_category() -> None:
    key = encode_key("text_generation")
    assert partition_for(TEXT, 4) == 2
    assert partition_for(TEXT, 8) == 4
    assert not misplaced(key, 2, 4)
    assert misplaced(key, 2, 8)
    assert not misplaced(b"not ours", 3, 8)  # unknown keys are left to the decoder


def _latest(partition: int, timestamp: int, value: bytes | None = b"v") -> Latest:
    return Latest(partition=partition, offset=timestamp, timestamp=timestamp, value=value)


def test_the_newest_record_is_copied_to_the_new_partition() -> None:
    key = encode_key("text_generation")
    [move] = plan_moves({key: {2: _latest(2, 10)}}, 8)
    assert (move.key, move.partition, move.record.partition) == (key, 4, 2)


def test_nothing_is_copied_over_a_newer_record_nor_twice() -> None:
    key = encode_key("text_generation")
    assert plan_moves({key: {2: _latest(2, 10), 4: _latest(4, 11)}}, 8) == []
    assert plan_moves({key: {2: _latest(2, 10), 4: _latest(4, 10)}}, 8) == []  # the copy itself
    assert plan_moves({key: {4: _latest(4, 1)}}, 8) == []


def test_a_newer_misplaced_record_replaces_an_older_placed_one() -> None:
    """Published by a producer that had not seen the new count yet."""
    key = encode_key("text")
    [move] = plan_moves({key: {2: _latest(2, 20), 4: _latest(4, 10)}}, 8)
    assert move.record.timestamp == 20


def test_tombstones_are_copied_only_to_delete_something() -> None:
    key = encode_key("lora", "gone")
    assert plan_moves({key: {1: _latest(1, 5, None)}}, 8) == []
    [move] = plan_moves({key: {1: _latest(1, 5, None), 4: _latest(4, 2)}}, 8)
    assert move.record.value is None


@given(
    categories=st.lists(st.sampled_from(list(ModelCategory)), min_size=1, max_size=15, unique=True),
    before=st.integers(1, 12),
    after=st.integers(1, 24),
)
def test_after_the_plan_every_key_is_current_on_its_partition(
    categories: list[ModelCategory], before: int, after: int
) -> None:
    """Whatever the counts, applying the plan leaves each key's newest value on its partition."""
    copies = {
        encode_key(c.value): {partition_for(c, before): _latest(partition_for(c, before), i + 1)}
        for i, c in enumerate(categories)
    }
    for move in plan_moves(copies, after):
        copies[move.key][move.partition] = move.record
    for key, by_partition in copies.items():
        wanted = partition_of_key(key, after)
        assert wanted is not None
        assert by_partition[wanted].timestamp == max(r.timestamp for r in by_partition.values())
    assert plan_moves(copies, after) == []
