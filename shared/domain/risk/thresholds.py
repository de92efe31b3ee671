"""The one source of deletion-risk thresholds (D33).

Upstream scattered these over settings, a preset constant and documentation that disagreed; here
they are a single immutable value passed into every risk function. Field names match the upstream
settings so the settings layer can map them one to one.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.categories import ModelCategory


class RiskThresholds(BaseModel):
    """Thresholds and host policy for deletion-risk analysis; percentages are in percent (0–100)."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    preferred_file_hosts: tuple[str, ...] = ("huggingface.co",)
    """Download hosts that count as preferred (exact hostname or a subdomain of it)."""
    low_usage_threshold_percentage: float = Field(default=0.0065, ge=0)
    """Image (and any non-text) category: monthly share below this percent sets ``low_usage``."""
    text_gen_low_usage_threshold_percentage: float = Field(default=0.02, ge=0)
    """Text category: monthly share below this percent sets ``low_usage``."""
    text_gen_ignore_download_hosts: bool = True
    """Text models skip every download-host flag while this is true (D36, kept as a setting)."""
    text_gen_critical_usage_threshold: int = Field(default=10, ge=0)
    """Text critical: ``usage_month`` below this and ..."""
    text_gen_critical_worker_threshold: int = Field(default=1, ge=0)
    """... ``worker_count`` below this."""

    def low_usage_threshold_for(self, category: ModelCategory) -> float:
        """The low-usage threshold (percent of category monthly usage) that applies to ``category``."""
        if category is ModelCategory.TEXT_GENERATION:
            return self.text_gen_low_usage_threshold_percentage
        return self.low_usage_threshold_percentage
