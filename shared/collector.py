"""Pausing Python's cyclic garbage collector around one CPU-bound batch (a view recompute).

A recompute allocates ~100k container objects per 1,000 models. With the collector on, every few
hundred allocations trigger a collection, and the occasional full collection walks every live
object, including the inputs and the views being built, so each recompute pays more per object
the larger the data is (text at 100× spent most of its time there). Objects of a recompute do
not form reference cycles that need collecting while it runs, so the collector is paused for its
duration and resumes afterwards; its next young-generation pass then looks at the surviving views
once, which is linear in their size.

The collector is process-wide: nested or concurrent pauses (threads) are counted, and only the
outermost one re-enables it, and only if it was enabled when the first pause began.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the body with ``gc`` disabled (reference counting still frees everything acyclic)."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
