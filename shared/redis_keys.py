"""Every Redis key we write, built in one place (``<prefix>:v1:<family>:...``).

Views are written as immutable generations: ``view`` keys carry the generation id, and one
``current`` hash per category points at the generation readers must use. Swapping that pointer
is the only mutation a reader can observe, which is what makes a generation atomic.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain.categories import ModelCategory


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """Key builders for one deployment prefix."""

    prefix: str

    def current(self, category: ModelCategory) -> str:
        """Hash: the category's current generation id and its basis (times, versions, hashes)."""
        return f"{self.prefix}:v1:current:{category}"

    def view(self, category: ModelCategory, generation: str, view: str) -> str:
        """String: one materialised view body (JSON, or its gzip form with a ``.gz`` view name)."""
        return f"{self.prefix}:v1:view:{category}:{generation}:{view}"

    def view_pattern(self, category: ModelCategory, generation: str) -> str:
        """Pattern matching every view of one generation (used only by maintenance and tests)."""
        return f"{self.prefix}:v1:view:{category}:{generation}:*"

    def changes_channel(self) -> str:
        """Pub/sub channel: a category name each time its pointer or source health changes."""
        return f"{self.prefix}:v1:changed"

    def source_health(self, category: ModelCategory) -> str:
        """Hash: per AI Horde endpoint, the latest poll outcome (JSON) for the category's model type."""
        return f"{self.prefix}:v1:source-health:{category}"

    def risk_events(self, category: ModelCategory) -> str:
        """Stream: the latest risk-change events of a category (feeds the gateway's SSE route)."""
        return f"{self.prefix}:v1:risk-events:{category}"

    def views_of_generation(self, category: ModelCategory, generation: str) -> str:
        """Set: names of the views written for one generation."""
        return f"{self.prefix}:v1:views:{category}:{generation}"

    def leader_lease(self, service: str) -> str:
        """String with expiry: ``<holder>|<token>`` of the replica that may act for ``service``."""
        return f"{self.prefix}:v1:leader:{service}"

    def leader_token(self, service: str) -> str:
        """Counter: the fencing token of ``service``'s latest leadership term (never expires)."""
        return f"{self.prefix}:v1:leader-token:{service}"

    def owner(self, category: ModelCategory) -> str:
        """Integer: the fencing token of the category's latest owner (``shared.store.fencing``)."""
        return f"{self.prefix}:v1:owner:{category}"

    def history_model(self, category: ModelCategory, model: str) -> str:
        """Hash: ISO day -> the model's ``ModelDay`` JSON (the materialised daily history)."""
        return f"{self.prefix}:v1:history:{category}:model:{model}"

    def history_events(self, category: ModelCategory, model: str) -> str:
        """Hash: ``version/kind`` -> one reference event of the model (JSON)."""
        return f"{self.prefix}:v1:history:{category}:events:{model}"

    def history_days(self, category: ModelCategory) -> str:
        """Hash: ISO day -> the category's day summary JSON (counts, usage, generated, captures)."""
        return f"{self.prefix}:v1:history:{category}:days"

    def history_meta(self, category: ModelCategory) -> str:
        """Hash: ``built_at``, ``first_day``, ``last_day`` of the materialised history (absent: rebuild)."""
        return f"{self.prefix}:v1:history:{category}:meta"

    def history_pattern(self, category: ModelCategory) -> str:
        """Pattern of every history key of a category (cleared before a rebuild)."""
        return f"{self.prefix}:v1:history:{category}:*"
