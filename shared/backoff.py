"""Capped exponential backoff with jitter, for retrying a failing dependency (Redis, Kafka).

A retry loop that runs at a fixed short interval hammers a dependency that is already in trouble
and fills the log; doubling the wait up to a cap, with jitter so replicas do not retry in step,
keeps the retries cheap while the outage lasts and still notices the recovery within the cap.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays ``initial · factor^n`` capped at ``cap``, each drawn in ``[d/2, d]`` ("equal jitter")."""

    initial: float = 0.5
    cap: float = 8.0
    factor: float = 2.0
    rng: random.Random = field(default_factory=random.Random)
    #: Consecutive failures so far (0: the dependency works).
    failures: int = 0

    def next_delay(self) -> float:
        """Record one more failure and return how long to wait before the next attempt."""
        ceiling = min(self.cap, self.initial * self.factor ** min(self.failures, 64))
        self.failures += 1
        return self.rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        """The dependency works again: the next failure starts from ``initial``."""
        self.failures = 0
