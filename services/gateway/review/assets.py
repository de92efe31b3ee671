"""The page's static files (one stylesheet, one script), served from the package.

Their URLs carry a content hash (``?v=``), so they are cached for a year as immutable and a
new release is fetched at once; a revalidation with the ``ETag`` is answered 304.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

MEDIA = {"css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8"}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


@cache
def asset(name: str) -> Asset | None:
    """A packaged file under ``static/`` (None for anything else: no path walking)."""
    if "/" in name or name.startswith(".") or name.rpartition(".")[2] not in MEDIA:
        return None
    resource = files("services.gateway.review").joinpath("static", name)
    if not resource.is_file():
        return None
    body = resource.read_bytes()
    digest = hashlib.blake2b(body, digest_size=8).hexdigest()
    return Asset(body, MEDIA[name.rpartition(".")[2]], f'"{digest}"')


def asset_url(name: str) -> str:
    found = asset(name)
    version = found.etag.strip('"') if found else "missing"
    return f"/review/static/{name}?v={version}"
