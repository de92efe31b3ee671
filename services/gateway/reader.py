"""Resolve a view of a category's current generation (one pointer read, one view read)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain.categories import ModelCategory
from shared.store.generations import CurrentGeneration, GenerationStore


class NotMaterialisedError(LookupError):
    """Nothing has been materialised for this category/view yet."""


@dataclass(frozen=True, slots=True)
class ViewAnswer:
    """A view body and the generation it belongs to."""

    body: bytes
    current: CurrentGeneration


async def read_view(store: GenerationStore, category: ModelCategory, view: str) -> ViewAnswer:
    """The body of ``view`` from the current generation.

    A generation superseded between the two reads keeps its views for the store's TTL, so one
    retry on a vanished view is enough; a view missing from the current generation means the
    worker has not got the inputs it needs yet.
    """
    for _ in range(2):
        current = await store.current(category)
        if current is None:
            raise NotMaterialisedError(f"no data has been computed for {category} yet")
        body = await store.view(category, current.generation, view)
        if body is not None:
            return ViewAnswer(body, current)
        latest = await store.current(category)
        if latest is not None and latest.generation == current.generation:
            break
    raise NotMaterialisedError(
        f"{view} of {category} is not available yet: the analytics workers are waiting for the "
        "AI Horde status and stats snapshots of this category"
    )
