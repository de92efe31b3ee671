"""AI Horde API payloads as the real server emits them.

Tolerant where the server is loose (fractional ``jobs``/``queued``, omitted null fields, unknown
fields), strict where a wrong value would turn into wrong data (missing ``name``/``count``, wrong
types). A payload that fails validation is rejected whole by the caller; it never becomes zeros.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.categories import HordeModelType


class HordeModelStatus(BaseModel):
    """One entry of ``GET /v2/status/models``; ``count`` is a sum of worker *threads*."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    count: int = Field(ge=0)
    jobs: float = Field(default=0.0, ge=0)
    queued: float = Field(default=0.0, ge=0)
    performance: float = Field(default=0.0, ge=0)
    eta: int = Field(default=0, ge=0)
    type: HordeModelType | None = None


class HordeModelStats(BaseModel):
    """``GET /v2/stats/{img,text}/models``: per-model usage counters for three windows."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    day: dict[str, int] = Field(default_factory=dict)
    month: dict[str, int] = Field(default_factory=dict)
    total: dict[str, int] = Field(default_factory=dict)


class HordeWorker(BaseModel):
    """The fields of one ``GET /v2/workers`` entry that analytics reads (others are ignored)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    name: str
    type: str
    online: bool = False
    trusted: bool = False
    maintenance_mode: bool = False
    #: Human-readable speed, e.g. ``"0.4 megapixelsteps per second"``.
    performance: str = ""
    uptime: int = 0
    threads: int = 1
    models: tuple[str, ...] = ()


class HordeSnapshot(BaseModel):
    """The latest good payload of each endpoint for one model type; ``None`` = never fetched."""

    model_config = ConfigDict(frozen=True)

    model_type: HordeModelType
    status: tuple[HordeModelStatus, ...] | None = None
    stats: HordeModelStats | None = None
    workers: tuple[HordeWorker, ...] | None = None
