"""Selecting rows of a listing: filter by a precomputed index set and a search, order, page."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def search_matches(haystacks: Sequence[str], query: str | None) -> set[int] | None:
    """Rows whose haystack contains every whitespace-separated term (case-insensitive)."""
    if not query or not query.strip():
        return None
    terms = query.casefold().split()
    return {i for i, text in enumerate(haystacks) if all(term in text for term in terms)}


def select(
    order: Iterable[int], *, allowed: set[int] | None = None, matching: set[int] | None = None
) -> list[int]:
    """Rows of ``order`` (a permutation) kept by both optional filters, in that order."""
    if allowed is None and matching is None:
        return list(order)
    if allowed is None:
        keep = matching or set()
    elif matching is None:
        keep = allowed
    else:
        keep = allowed & matching
    return [i for i in order if i in keep]


def page(rows: Sequence[int], offset: int, limit: int | None) -> Sequence[int]:
    """``rows[offset:offset+limit]`` (all from ``offset`` without a limit)."""
    return rows[offset : offset + limit] if limit is not None else rows[offset:]


def stable_order(keys: Sequence[object | None], *, descending: bool) -> list[int]:
    """Permutation sorting ``keys`` stably; ``None`` keys always last, in base order."""
    present = [i for i, k in enumerate(keys) if k is not None]
    missing = [i for i, k in enumerate(keys) if k is None]
    present.sort(key=lambda i: keys[i], reverse=descending)  # type: ignore[arg-type,return-value]
    return present + missing
