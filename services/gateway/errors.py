"""Error bodies of the gateway: ``{"detail": ...}`` like upstream, with machine-readable extras."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ErrorBody(BaseModel):
    """An error answer: ``detail`` says what happened and what to do."""

    model_config = ConfigDict(frozen=True)

    detail: str
    valid_values: list[str] | None = None
    retry_after_seconds: int | None = None
