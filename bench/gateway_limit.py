"""The limit the gateway is measured against: a bare ASGI app returning fixed bytes per URL.

It serves exactly the bytes the gateway answered for each benchmarked URL, status line aside:
the body and every header (freshness, ETag, content type and length; ``date`` and ``server``
are added by uvicorn to both), read from ``BENCH_LIMIT_DIR/index.json``. The HTTP server's cost
of writing those headers is then the same on both sides, and the difference to the gateway is
the gateway's own work: finding the answer and checking it is still current, or routing,
parsing, selecting and rendering when it is not.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

_DIR = Path(os.environ.get("BENCH_LIMIT_DIR", "."))
_ANSWERS: dict[tuple[bytes, bytes], tuple[bytes, list[tuple[bytes, bytes]]]] = {}
if (_DIR / "index.json").exists():
    for entry in json.loads((_DIR / "index.json").read_text()):
        body = (_DIR / entry["file"]).read_bytes()
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in entry["headers"]]
        _ANSWERS[(entry["url"].encode(), entry.get("content_encoding", "").encode())] = (body, headers)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answer the stored bytes of ``path?query`` (gzip when asked and stored), else 404."""
    if scope["type"] != "http":
        return
    url = scope["raw_path"] + (b"?" + scope["query_string"] if scope["query_string"] else b"")
    wants_gzip = any(k == b"accept-encoding" and b"gzip" in v for k, v in scope["headers"])
    found = _ANSWERS.get((url, b"gzip" if wants_gzip else b"")) or _ANSWERS.get((url, b""))
    if found is None:
        await send({"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
        return
    body, headers = found
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
