"""Content negotiation: gzip without compressing big bodies on the request path.

Default answers splice the stored deflate of their body with the live tail (``stored_body``),
so their cost does not depend on the body size. Any other answer is rendered per request; it is
compressed only when smaller than ``DYNAMIC_GZIP_MAX_BYTES`` (cheap) and sent identity otherwise,
which keeps a big filtered listing from costing milliseconds of CPU on a single-threaded server.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple

from shared.materialized.layout import MaterializedView

#: Largest per-request rendered body compressed on the fly.
DYNAMIC_GZIP_MAX_BYTES = 64 * 1024
_DYNAMIC_LEVEL = 5


class Body(NamedTuple):
    """An answer body, with a cheap way to gzip it when one exists (a tuple: one per answer)."""

    identity: bytes
    media_type: str
    spliced_gzip: Callable[[], bytes] | None = None


def stored_body(view: MaterializedView, tail: bytes, media_type: str) -> Body:
    """A stored view's body ended by ``tail``, gzip spliced from its stored deflate."""
    identity, gzipped = view.answer(tail)
    return Body(identity, media_type, gzipped)


@lru_cache(maxsize=256)  # clients send a handful of distinct values
def accepts_gzip(header: str | None) -> bool:
    """Whether ``Accept-Encoding`` allows gzip (``gzip`` or ``*`` with a non-zero q)."""
    if not header:
        return False
    for part in header.split(","):
        coding, _, params = part.strip().partition(";")
        coding = coding.strip().lower()
        if coding not in ("gzip", "x-gzip", "*"):
            continue
        q = params.strip().lower()
        if q.startswith("q="):
            try:
                return float(q[2:]) > 0
            except ValueError:
                return False
        return True
    return False


def encode(body: Body, accept_encoding: str | None) -> tuple[bytes, str | None]:
    """The bytes to send and their ``Content-Encoding`` (None: identity)."""
    if not accepts_gzip(accept_encoding):
        return body.identity, None
    if body.spliced_gzip is not None:
        return body.spliced_gzip(), "gzip"
    if len(body.identity) < DYNAMIC_GZIP_MAX_BYTES:
        return gzip.compress(body.identity, compresslevel=_DYNAMIC_LEVEL, mtime=0), "gzip"
    return body.identity, None
