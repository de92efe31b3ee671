"""Per-model runtime statistics: the result of merging a Horde snapshot into the reference.

Field names follow upstream ``CombinedModelStatistics`` (§3.6) with the amendments of
docs/contract.md: usage is never null (D13), ``worker_count`` counts distinct workers and
``thread_count`` the status threads (D45), ``worker_count_source`` says which one was used.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

Backend = Literal["canonical", "aphrodite", "koboldcpp"]


def whole_or_fraction(value: float) -> int | float:
    """``7.0`` → ``7``: the Horde's own wire format for ``jobs``/``queued`` (integers when whole),
    which clients read; a real fraction (the server may sum fractional jobs, D22) stays a float."""
    return int(value) if value.is_integer() else value


#: ``queued`` and ``queued_jobs``: held as floats (sums over spellings), written as the Horde writes them.
HordeQuantity = Annotated[
    float, PlainSerializer(whole_or_fraction, return_type=int | float, when_used="json")
]

#: Deterministic backend order (D23).
BACKEND_ORDER: tuple[Backend, ...] = ("canonical", "aphrodite", "koboldcpp")


class UsageStats(BaseModel):
    """Usage counters of the Horde's past day, past 30 days and all time."""

    model_config = ConfigDict(frozen=True)

    day: int = Field(default=0, ge=0)
    month: int = Field(default=0, ge=0)
    total: int = Field(default=0, ge=0)


class WorkerSummary(BaseModel):
    """A worker serving the model, as shown to maintainers."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    performance: str
    online: bool
    trusted: bool
    uptime: int


class BackendVariation(BaseModel):
    """Runtime data of one backend spelling of a (text) model."""

    model_config = ConfigDict(frozen=True)

    backend: Backend
    variant_name: str
    worker_count: int = 0
    thread_count: int = 0
    performance: float | None = None
    queued: HordeQuantity | None = None
    queued_jobs: HordeQuantity | None = None
    eta: int | None = None
    usage_day: int = 0
    usage_month: int = 0
    usage_total: int = 0


class CombinedModelStatistics(BaseModel):
    """Runtime statistics of one reference model (one entry of the with-stats view)."""

    model_config = ConfigDict(frozen=True)

    queued_jobs: HordeQuantity | None = None
    performance: float | None = None
    eta: int | None = None
    queued: HordeQuantity | None = None
    usage_stats: UsageStats = Field(default_factory=UsageStats)
    worker_summaries: dict[str, WorkerSummary] | None = None
    backend_variations: dict[str, BackendVariation] | None = None
    worker_count: int = 0
    thread_count: int = 0
    worker_count_source: Literal["workers", "status"] = "status"
    #: Online workers that list the model but are in maintenance: not in ``worker_count`` (they
    #: serve nothing), reported so the difference to ``/v2/workers`` is visible; 0 without workers.
    maintenance_worker_count: int = 0
