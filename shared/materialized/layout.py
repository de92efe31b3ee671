"""The stored layout of a generation's view bodies, shared by the workers (write) and the gateway (read).

A view is stored twice: its body under ``view`` and, under ``view.gz``, the raw deflate of its
*splice prefix* (``gzip_splice``). An object view (statistics, deletion risk) gets a live
``freshness`` field on request, so its prefix is the body without the closing brace; any other
view is sent as stored, so its prefix is the whole body. Readers get a ``MaterializedView`` whose
``answer`` gives the bytes and a lazy gzip of ``prefix + tail``: no caller sees gzip internals.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.materialized.gzip_splice import compress_prefix, gzip_with_tail

#: Views whose JSON body is an object that gets a live ``freshness`` field appended on request.
OBJECT_VIEW_PREFIXES = ("statistics", "deletion-risk")


def splice_prefix(view: str, body: bytes) -> bytes:
    """The part of a body that is compressed ahead: object views lose their closing brace."""
    return body[:-1] if view.startswith(OBJECT_VIEW_PREFIXES) else body


def gzip_key(view: str) -> str:
    """Where the precompressed prefix of ``view`` is stored beside it."""
    return f"{view}.gz"


def with_gzip_members(stored: dict[str, bytes]) -> dict[str, bytes]:
    """``stored`` (view → body) plus each view's precompressed prefix."""
    return {
        **stored,
        **{gzip_key(view): compress_prefix(splice_prefix(view, body)) for view, body in stored.items()},
    }


@dataclass(frozen=True, slots=True)
class MaterializedView:
    """A stored body with what splicing its gzip needs (the deflate and CRC/length of its prefix).

    The answer of the last tail is kept (bytes and gzip member): a tail changes only with the
    freshness of the generation, so every other request for the view sends the same bytes
    without joining or compressing anything."""

    body: bytes
    deflated: bytes | None
    prefix_crc: int
    prefix_length: int
    #: ``[tail, identity, gzip member or None]`` of the last answer.
    last: list[Any] = field(default_factory=lambda: [None, b"", None], compare=False)

    @classmethod
    def read(cls, view: str, body: bytes, deflated: bytes | None) -> MaterializedView:
        """From the two stored values (``deflated`` is ``None`` where it was not stored)."""
        prefix = splice_prefix(view, body)
        return cls(body, deflated, zlib.crc32(prefix), len(prefix))

    def answer(self, tail: bytes = b"") -> tuple[bytes, Callable[[], bytes] | None]:
        """The bytes of ``prefix + tail`` and a way to gzip them without compressing the prefix."""
        last = self.last
        if last[0] != tail:
            length = self.prefix_length
            last[:] = [tail, (self.body if length == len(self.body) else self.body[:length]) + tail, None]
        if self.deflated is None:
            return last[1], None
        return last[1], lambda: self._gzipped(tail)

    def _gzipped(self, tail: bytes) -> bytes:
        last = self.last
        if last[0] == tail and last[2] is not None:
            cached: bytes = last[2]
            return cached
        assert self.deflated is not None
        member = gzip_with_tail(self.deflated, self.prefix_crc, self.prefix_length, tail)
        if last[0] == tail:
            last[2] = member
        return member
