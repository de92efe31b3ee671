"""gzip bodies whose end is written at request time, without compressing the body on request.

A view body is compressed once, when it is written, as a raw deflate stream ended with a sync
flush (byte-aligned, not final). At request time a few bytes (the live ``freshness`` object and
the closing brace) are compressed as a new final deflate block and appended, and the gzip header
and trailer (CRC-32 and length of the whole) wrap both. Clients see one ordinary gzip member.
"""

from __future__ import annotations

import struct
import zlib

_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def compress_prefix(prefix: bytes, level: int = 6) -> bytes:
    """Raw deflate of ``prefix`` ending in a sync flush, ready for more blocks after it."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(prefix) + compressor.flush(zlib.Z_SYNC_FLUSH)


def gzip_with_tail(compressed_prefix: bytes, prefix_crc: int, prefix_length: int, tail: bytes) -> bytes:
    """A complete gzip member of ``prefix + tail`` from the precompressed prefix."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS)
    compressed_tail = compressor.compress(tail) + compressor.flush(zlib.Z_FINISH)
    crc = zlib.crc32(tail, prefix_crc)
    trailer = struct.pack("<II", crc & 0xFFFFFFFF, (prefix_length + len(tail)) & 0xFFFFFFFF)
    return _GZIP_HEADER + compressed_prefix + compressed_tail + trailer
