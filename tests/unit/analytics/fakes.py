"""Fakes of the analytics pieces' collaborators (their Protocols), for unit tests of one piece.

Only collaborators are faked: the integration tests run the same pieces against the real broker
and Redis.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from services.analytics.recompute import Generation
from shared.domain.categories import ModelCategory
from shared.store.basis import GenerationBasis
from shared.store.fencing import Fence
from shared.store.generations import CurrentGeneration, SwapOutcome


class FakeClaims:
    """Tokens as the owner key's INCR hands them out; ``held`` is the newest claim per category."""

    def __init__(self) -> None:
        self.held: dict[ModelCategory, int] = {}
        self.failing = False

    async def claim(self, category: ModelCategory) -> Fence:
        if self.failing:
            raise ConnectionError("redis away")
        self.held[category] = self.held.get(category, 0) + 1
        return Fence(f"owner:{category}", self.held[category])

    async def holds(self, fence: Fence) -> bool:
        category = ModelCategory(fence.key.removeprefix("owner:"))
        return self.held.get(category) == fence.token


class FakeStore:
    """The materialised layout in memory, refusing writes whose fence ``claims`` no longer holds."""

    def __init__(self, claims: FakeClaims) -> None:
        self.claims = claims
        #: What ``GenerationStore.fences`` is: the token source of the categories it guards.
        self.fences = claims
        self.pointers: dict[ModelCategory, tuple[str, GenerationBasis]] = {}
        self.health: dict[ModelCategory, dict[str, str]] = {}
        self.announced: list[ModelCategory] = []
        self.attempts = 0
        self.failing = False

    async def write(
        self,
        category: ModelCategory,
        generation: str,
        views: Mapping[str, bytes],
        basis: GenerationBasis,
        *,
        fence: Fence | None = None,
    ) -> SwapOutcome:
        self.attempts += 1
        if self.failing:
            raise ConnectionError("redis away")
        if fence is not None and not await self.claims.holds(fence):
            return "fenced"
        if category in self.pointers and self.pointers[category][0] == generation:
            return "unchanged"
        self.pointers[category] = (generation, basis)
        self.announced.append(category)
        return "written"

    async def current(self, category: ModelCategory) -> CurrentGeneration | None:
        found = self.pointers.get(category)
        return CurrentGeneration(found[0], found[1].to_fields()) if found else None

    async def write_source_health(
        self, category: ModelCategory, endpoints: Mapping[str, str], *, reference: str | None = None
    ) -> None:
        held = self.health.setdefault(category, {})
        held.update(endpoints)
        if reference is not None:
            held["reference"] = reference

    async def written_state(self, categories: Sequence[ModelCategory]) -> list[tuple[str | None, bool]]:
        return [(self.pointers[c][0] if c in self.pointers else None, c in self.health) for c in categories]


class FakeRisk:
    """Records what would be published: category, generation id and the fence's token."""

    def __init__(self) -> None:
        self.published: list[tuple[ModelCategory, str, int]] = []

    async def publish(
        self, category: ModelCategory, generation: Generation, *, fence: Fence, keep_going: Callable[[], bool]
    ) -> None:
        if keep_going():
            self.published.append((category, generation.generation, fence.token))
