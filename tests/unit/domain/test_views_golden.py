"""Every rendered view over the recorded data is byte-identical to the pinned hashes (issue 15).

A refactor must not move a byte. A change meant to alter views regenerates the hashes
(``.venv/bin/python -m tests.golden.views --write``) and, if the layout changed, bumps the view
schema version (``tests/unit/domain/test_view_layout.py``).
"""

from __future__ import annotations

import json

from tests.golden.views import GOLDEN, hashes


def test_rendered_views_match_the_golden_hashes() -> None:
    pinned = json.loads(GOLDEN.read_text())
    now = hashes()
    assert set(now) == set(pinned)
    moved = {case: sorted(v for v in now[case] if now[case][v] != pinned[case].get(v)) for case in now}
    moved = {case: views for case, views in moved.items() if views}
    assert not moved, f"views changed: {moved}; if intended: .venv/bin/python -m tests.golden.views --write"
    assert now == pinned
