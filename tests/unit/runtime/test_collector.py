"""The collector kept off a server's hot path: what was alive at start-up is never walked again."""

from __future__ import annotations

import gc

from shared.collector import freeze_startup_objects


def test_objects_alive_at_start_up_are_frozen_and_garbage_is_collected_first() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self

    kept, cycle = [Node()], Node()
    cycle_id = id(cycle)
    del cycle  # garbage (a cycle) before the freeze: collected, not frozen forever
    try:
        frozen = freeze_startup_objects()
        assert frozen == gc.get_freeze_count() > 0
        tracked = {id(o) for o in gc.get_objects()}
        assert id(kept) not in tracked  # never walked again
        assert id(kept[0]) not in tracked
        assert cycle_id not in tracked
        made_later = [Node()]
        assert id(made_later) in {id(o) for o in gc.get_objects(generation=0)}  # ages as before
    finally:
        gc.unfreeze()
