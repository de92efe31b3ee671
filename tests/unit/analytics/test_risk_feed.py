"""Issue 15: the risk feed turns a written generation into the publisher's call (its basis from the
typed generation basis) and leaves the publisher's state to the publisher."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from services.analytics.recompute import Generation
from services.analytics.risk_feed import RiskFeed
from shared.domain.categories import ModelCategory
from shared.domain.risk.models import ModelDeletionRiskInfo
from shared.events.risk import RiskBasis
from shared.settings import KafkaSettings
from shared.store.basis import GenerationBasis
from shared.store.fencing import Fence

IMAGE = ModelCategory.IMAGE_GENERATION


class FakePublisher:
    def __init__(self) -> None:
        self.calls: list[tuple[ModelCategory, RiskBasis, Fence | None, bool]] = []
        self.forgotten = 0

    async def publish(
        self, category: ModelCategory, models: Sequence[ModelDeletionRiskInfo], basis: RiskBasis, *,
        keep_going: Callable[[], bool] = lambda: True, fence: Fence | None = None,
    ) -> int:  # fmt: skip
        self.calls.append((category, basis, fence, keep_going()))
        return 0

    def forget(self) -> None:
        self.forgotten += 1


def generation(risk_models: tuple[ModelDeletionRiskInfo, ...] | None) -> Generation:
    basis = GenerationBasis(computed_at=1, reference_version="v7", status_at_ms=3000, stats_at_ms=2000)
    return Generation(IMAGE, "g1", basis, {}, risk_models)


async def test_a_generation_is_published_with_its_basis_and_the_fence() -> None:
    publisher = FakePublisher()
    feed = RiskFeed(publisher, KafkaSettings())  # type: ignore[arg-type]
    fence = Fence("owner", 4)
    await feed.publish(IMAGE, generation(()), fence=fence, keep_going=lambda: True)
    expected = RiskBasis(
        generation="g1", reference_version="v7", horde_status_at_ms=3000, horde_stats_at_ms=2000
    )
    assert publisher.calls == [(IMAGE, expected, fence, True)]


async def test_a_generation_without_runtime_data_publishes_nothing() -> None:
    publisher = FakePublisher()
    feed = RiskFeed(publisher, KafkaSettings())  # type: ignore[arg-type]
    await feed.publish(IMAGE, generation(None), fence=Fence("owner", 1), keep_going=lambda: True)
    assert publisher.calls == []
    feed.forget()
    assert publisher.forgotten == 1
