"""Which categories this member owns, whether it may write them now, and its fencing tokens.

Ownership follows the consumer group: every event about a category uses the same partition
number on every input topic and the range assignor hands a member the same partition numbers on
all topics, so one member owns all inputs of a category. A category may be written once every
owned partition holding it has been replayed up to the end offset seen at assignment, so a
replay never publishes a half-built state.

A rebalance interrupts the member between two steps: ``epoch`` moves on every assignment and
revocation (a result computed before is dropped), and ``busy`` is held by every step that writes,
so a revocation waits for the step in flight and the next owner never races it. A member that
misses the rebalance (paused longer than the session timeout) is fenced instead: each assignment
takes a new token per category (``shared.store.fencing``), checked by every write.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import Protocol

from aiokafka import TopicPartition

from shared.domain.categories import ModelCategory
from shared.store.fencing import Fence
from shared.topics import categories_of_partition

log = logging.getLogger(__name__)


class Tenure:
    """The owned partitions, how far each must be read, and the rebalance under way (if any)."""

    def __init__(self, partition_count: int) -> None:
        self.partition_count = partition_count
        #: End offset per owned partition at assignment: read that far before writing its categories.
        self.targets: dict[TopicPartition, int] = {}
        self.caught_up: set[TopicPartition] = set()
        #: Incremented by every revocation and assignment: a result computed before is dropped.
        self.epoch = 0
        self.loading = False
        self.revoking = False
        #: Held while writing a generation and its risk events, verifying or rebuilding.
        self.busy = asyncio.Lock()

    # -- what is owned -----------------------------------------------------------------------
    def partitions(self) -> set[int]:
        return {tp.partition for tp in self.targets}

    def categories_of(self, partitions: Iterable[int]) -> set[ModelCategory]:
        return {c for p in partitions for c in categories_of_partition(p, self.partition_count)}

    def owned_categories(self) -> set[ModelCategory]:
        return self.categories_of(self.partitions())

    def category_ready(self, category: ModelCategory) -> bool:
        """True when every owned partition holding ``category`` has been replayed to its target."""
        wanted = [
            tp
            for tp in self.targets
            if category in categories_of_partition(tp.partition, self.partition_count)
        ]
        return all(tp in self.caught_up for tp in wanted)

    def own(self, targets: Mapping[TopicPartition, int]) -> None:
        """Start owning ``targets`` (partition → end offset); empty partitions are caught up already."""
        self.targets = dict(targets)
        self.caught_up = {tp for tp, end in targets.items() if end == 0}

    def release(self) -> None:
        """Own nothing."""
        self.targets, self.caught_up = {}, set()

    def reached(self, tp: TopicPartition, position: int, highwater: int | None) -> None:
        """Note the consumer's ``position`` on ``tp``: caught up once at its target and highwater."""
        if tp in self.targets and position >= max(self.targets[tp], highwater or 0):
            self.caught_up.add(tp)

    # -- rebalances --------------------------------------------------------------------------
    def assigning(self) -> None:
        self.loading = True
        self.epoch += 1

    def assigned(self) -> None:
        self.loading = False
        self.revoking = False

    def revoked(self) -> None:
        self.revoking = True
        self.epoch += 1

    @property
    def settled(self) -> bool:
        """No rebalance under way: writing is allowed."""
        return not self.loading and not self.revoking

    def still_owned(self, epoch: int) -> bool:
        """No rebalance started since ``epoch`` was read: what was computed may still be written."""
        return epoch == self.epoch and self.settled


class FenceClaims(Protocol):
    """Takes and checks fencing tokens (``shared.store.fencing.OwnerFence``)."""

    async def claim(self, category: ModelCategory) -> Fence: ...

    async def holds(self, fence: Fence) -> bool: ...


class Fences:
    """The token this member's latest assignment took for each owned category."""

    def __init__(self, claims: FenceClaims) -> None:
        self.claims = claims
        self.tokens: dict[ModelCategory, Fence] = {}

    async def claim_all(self, categories: Iterable[ModelCategory]) -> None:
        """Take a new token for each category (fences off every earlier owner); one that cannot be
        taken now is taken before the category's first write."""
        for category in sorted(categories):
            try:
                self.tokens[category] = await self.claims.claim(category)
            except Exception:
                log.exception(
                    "taking the fencing token of %s failed; retried before its first write", category
                )
        if self.tokens:
            log.info(
                "fencing tokens taken",
                extra={"owner_epochs": {c.value: f.token for c, f in self.tokens.items()}},
            )

    async def of(self, category: ModelCategory) -> Fence:
        """This member's token for ``category`` (taken now if the assignment could not take it)."""
        fence = self.tokens.get(category)
        if fence is None:
            fence = self.tokens[category] = await self.claims.claim(category)
        return fence

    async def holds(self, category: ModelCategory) -> bool:
        """Whether no member was assigned ``category`` after this one (a zombie's answer is no)."""
        return await self.claims.holds(await self.of(category))

    def forget(self) -> None:
        self.tokens.clear()
