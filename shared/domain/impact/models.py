"""What removing one model would break or free, as carried by risk rows, events and proposals."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StyleUse(BaseModel):
    """A style that names the model, with every style category that includes it (recursively)."""

    model_config = ConfigDict(frozen=True)

    name: str
    categories: tuple[str, ...] = ()


class HostingWorker(BaseModel):
    """A worker serving the model now; ``serves_only_this`` when it serves no other reference model."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    serves_only_this: bool = False


class BrokenStyle(BaseModel):
    """A style naming a model that is not in the reference: already broken, whatever is removed."""

    model_config = ConfigDict(frozen=True)

    name: str
    model: str


class ModelImpact(BaseModel):
    """Impact signals of one model.

    ``disk_reclaimed_gb`` is the reference's ``size_on_disk_bytes`` in GiB (the unit of
    ``size_gb``), rounded to 2 places; null when the reference gives no size (text models).
    ``family`` and ``leaves_family_unserved`` are for text only: the family is the text-name
    grouping key, and the flag says no other member of the family is served now.
    """

    model_config = ConfigDict(frozen=True)

    styles: tuple[StyleUse, ...] = ()
    hosting_workers: tuple[HostingWorker, ...] = ()
    sole_serving_workers: int = Field(default=0, ge=0)
    disk_reclaimed_gb: float | None = None
    size_on_disk_bytes: int | None = None
    family: str | None = None
    leaves_family_unserved: bool | None = None
