"""The AI Horde styles in force: what the impact of removing an image model is computed from.

One key (``styles``) on a compacted topic, on the partition of image generation (the only
category styles name models of), so the analytics worker owning image generation receives it
with its other inputs and a late consumer rebuilds the styles from the topic alone.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from shared.domain.impact.styles import Style, StyleCatalog, StyleCategory

#: Record key of every styles event.
STYLES_KEY = "styles"


class StylesChanged(BaseModel):
    """The styles moved from ``previous_version`` to ``version`` (content hash of the parsed styles)."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    version: str
    previous_version: str | None = None
    source: str
    detected_at: AwareDatetime
    styles: tuple[Style, ...] = ()
    categories: tuple[StyleCategory, ...] = ()

    def catalog(self) -> StyleCatalog:
        return StyleCatalog(styles=self.styles, categories=self.categories)
