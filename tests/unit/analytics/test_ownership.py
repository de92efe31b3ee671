"""Issue 15: ownership on its own — which categories a member owns, when it may write them, how a
rebalance invalidates work in flight, and the fencing tokens (with a fake token source)."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition

from services.analytics.ownership import Fences, Tenure
from shared.domain.categories import ModelCategory
from shared.topics import categories_of_partition, partition_for
from tests.unit.analytics.fakes import FakeClaims

PARTITIONS = 3
IMAGE = ModelCategory.IMAGE_GENERATION
P = partition_for(IMAGE, PARTITIONS)
REFERENCE = TopicPartition("reference", P)
STATUS = TopicPartition("status", P)


def test_a_member_owns_the_categories_of_its_partitions() -> None:
    tenure = Tenure(PARTITIONS)
    assert tenure.owned_categories() == set()
    tenure.own({REFERENCE: 5, STATUS: 0})
    assert tenure.partitions() == {P}
    assert tenure.owned_categories() == set(categories_of_partition(P, PARTITIONS))
    tenure.release()
    assert tenure.owned_categories() == set()


def test_a_category_is_ready_once_every_partition_holding_it_reached_its_target() -> None:
    tenure = Tenure(PARTITIONS)
    tenure.own({REFERENCE: 5, STATUS: 0})
    assert STATUS in tenure.caught_up, "an empty partition is caught up from the start"
    assert not tenure.category_ready(IMAGE)
    tenure.reached(REFERENCE, 4, highwater=5)
    assert not tenure.category_ready(IMAGE)
    tenure.reached(REFERENCE, 5, highwater=7)
    assert not tenure.category_ready(IMAGE), "records written since the assignment are read first"
    tenure.reached(REFERENCE, 7, highwater=7)
    assert tenure.category_ready(IMAGE)
    tenure.reached(TopicPartition("other", P), 100, highwater=None)
    assert TopicPartition("other", P) not in tenure.caught_up, "not an owned partition"


def test_a_rebalance_drops_what_was_computed_before_it() -> None:
    tenure = Tenure(PARTITIONS)
    epoch = tenure.epoch
    assert tenure.settled
    assert tenure.still_owned(epoch)
    tenure.revoked()
    assert not tenure.settled
    assert not tenure.still_owned(epoch)
    tenure.assigning()
    tenure.assigned()
    assert tenure.settled
    assert not tenure.still_owned(epoch), "a result from before the rebalance is never written"
    assert tenure.still_owned(tenure.epoch)


async def test_each_assignment_fences_off_the_earlier_owner() -> None:
    claims = FakeClaims()
    zombie, owner = Fences(claims), Fences(claims)
    await zombie.claim_all({IMAGE})
    await owner.claim_all({IMAGE})
    assert await owner.holds(IMAGE)
    assert not await zombie.holds(IMAGE)
    assert (await owner.of(IMAGE)).token > (await zombie.of(IMAGE)).token


async def test_a_token_the_assignment_could_not_take_is_taken_at_the_first_write() -> None:
    claims = FakeClaims()
    fences = Fences(claims)
    claims.failing = True
    await fences.claim_all({IMAGE})  # logged, not raised: Redis may be away at assignment
    assert fences.tokens == {}
    claims.failing = False
    assert (await fences.of(IMAGE)).token == 1
    assert await fences.holds(IMAGE)
    fences.forget()
    assert fences.tokens == {}


@pytest.mark.parametrize("partitions", [1, 3, 7])
def test_categories_of_the_owned_partitions_follow_the_partition_rule(partitions: int) -> None:
    tenure = Tenure(partitions)
    assert tenure.categories_of(range(partitions)) == {c for c in ModelCategory}
