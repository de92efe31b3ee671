"""Scenarios: an ordered list of recorded snapshot frames the stand-in walks through.

A frame holds any of the five recorded payloads; a payload missing from a frame is inherited
from the previous one, so a "the count of model X dropped" frame is one small dict. Payloads keep
their recorded bytes: unfiltered requests are answered byte for byte, quirks included (``\\/``
escapes, odd whitespace in names), because the poller must cope with exactly those bytes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PAYLOAD_KEYS: tuple[str, ...] = (
    "status_models_image",
    "status_models_text",
    "stats_models_image",
    "stats_models_text",
    "workers",
)
"""Payload names; on disk each is ``<name>.json`` inside a frame folder."""

#: Suffix of a marker file ``<name>.not-recorded``: the capture has no such response, and the
#: stand-in answers 404 for it instead of serving an empty payload as if it were data.
NOT_RECORDED_SUFFIX = ".not-recorded"

_EMPTY: dict[str, Any] = {
    "status_models_image": [],
    "status_models_text": [],
    "stats_models_image": {"day": {}, "month": {}, "total": {}},
    "stats_models_text": {"day": {}, "month": {}, "total": {}},
    "workers": [],
}

FrameSource = Mapping[str, Any] | str | Path
"""A frame given as a dict (payload name → JSON value or raw bytes) or as a folder path."""


@dataclass(frozen=True)
class Payload:
    """One recorded response: parsed for filtering, raw for byte-faithful replies."""

    data: Any
    raw: bytes
    #: False for a payload the capture marks as not recorded (see :data:`NOT_RECORDED_SUFFIX`).
    recorded: bool = True

    @classmethod
    def from_value(cls, value: Any) -> Payload:
        """Bytes/str are taken as the recorded body; anything else is encoded like flask-restx."""
        if value is NOT_RECORDED:
            return cls(None, b"", recorded=False)
        if isinstance(value, bytes | bytearray):
            return cls(json.loads(value), bytes(value))
        if isinstance(value, str):
            return cls(json.loads(value), value.encode())
        return cls(value, encode_json(value))


def encode_json(value: Any) -> bytes:
    """flask-restx's default ``output_json``: ``json.dumps`` defaults plus a trailing newline."""
    return (json.dumps(value) + "\n").encode()


def _key(name: str) -> str:
    key = name.removesuffix(".json")
    if key not in PAYLOAD_KEYS:
        raise ValueError(f"unknown payload {name!r}; expected one of {', '.join(PAYLOAD_KEYS)}")
    return key


#: Value of a payload marked ``<name>.not-recorded`` in a frame folder.
NOT_RECORDED: Any = object()


def read_frame_dir(path: str | Path) -> dict[str, Any]:
    """The raw payload files present in one frame folder (absent files are simply left out), and
    :data:`NOT_RECORDED` for each ``<name>.not-recorded`` marker."""
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"frame folder not found: {folder}")
    found: dict[str, Any] = {}
    for key in PAYLOAD_KEYS:
        if (folder / f"{key}.json").is_file():
            found[key] = (folder / f"{key}.json").read_bytes()
        elif (folder / f"{key}{NOT_RECORDED_SUFFIX}").is_file():
            found[key] = NOT_RECORDED
    return found


def load_frame(path: str | Path) -> dict[str, Any]:
    """A frame folder parsed into plain JSON values, ready to copy and edit in tests."""
    return {key: json.loads(raw) for key, raw in read_frame_dir(path).items() if raw is not NOT_RECORDED}


def set_model_counts(frame: Mapping[str, Any], model_type: str, counts: Mapping[str, int]) -> dict[str, Any]:
    """A derived frame: a deep copy of ``frame`` with the status ``count`` of some models replaced.

    Unknown names are appended as new status entries (no queue), so a model can also "appear".
    """
    derived = copy.deepcopy(dict(frame))
    key = f"status_models_{model_type}"
    entries: list[dict[str, Any]] = derived.setdefault(key, [])
    remaining = dict(counts)
    for entry in entries:
        if entry.get("name") in remaining:
            entry["count"] = remaining.pop(entry["name"])
    for name, count in remaining.items():
        entry = {"performance": 0.0, "queued": 0.0, "jobs": 0.0, "eta": 0, "type": model_type, "name": name}
        entries.append(entry | {"count": count})
    return derived


@dataclass
class Scenario:
    """Frames (every payload resolved after inheritance) plus how the stand-in moves through them.

    ``known_models`` maps ``image``/``text`` to the reference names used by ``model_state``
    filters; ``None`` means no reference was given and every model counts as known.
    ``advance_every_seconds`` moves to the next frame on a timer (``None``: only on command);
    the last frame is kept once reached.
    """

    frames: list[dict[str, Payload]]
    advance_every_seconds: float | None = None
    known_models: Mapping[str, frozenset[str]] | None = None
    sources: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.frames:
            raise ValueError("a scenario needs at least one frame")

    @classmethod
    def from_frames(
        cls,
        frames: Sequence[FrameSource],
        *,
        advance_every_seconds: float | None = None,
        known_models: Mapping[str, frozenset[str] | set[str] | Sequence[str]] | None = None,
    ) -> Scenario:
        """Build from dicts and/or folders; each frame inherits payloads it lacks from the previous."""
        resolved: list[dict[str, Payload]] = []
        current = {key: Payload.from_value(value) for key, value in _EMPTY.items()}
        sources: list[str] = []
        for source in frames:
            if isinstance(source, str | Path):
                raw: Mapping[str, Any] = read_frame_dir(source)
                sources.append(str(source))
            else:
                raw = source
                sources.append("<dict>")
            current = current | {_key(name): Payload.from_value(value) for name, value in raw.items()}
            resolved.append(current)
        known = None if known_models is None else {k: frozenset(v) for k, v in known_models.items()}
        return cls(resolved, advance_every_seconds, known, sources)

    @classmethod
    def from_dir(
        cls,
        path: str | Path,
        *,
        advance_every_seconds: float | None = None,
        known_models: Mapping[str, frozenset[str]] | None = None,
    ) -> Scenario:
        """A folder that is one frame (holds payload files) or holds frame sub-folders in name order."""
        folder = Path(path)
        if not folder.is_dir():
            raise FileNotFoundError(f"scenario folder not found: {folder}")
        if read_frame_dir(folder):
            frames: list[FrameSource] = [folder]
        else:
            frames = [p for p in sorted(folder.iterdir()) if p.is_dir()]
            if not frames:
                raise ValueError(f"{folder} holds neither payload files nor frame folders")
        return cls.from_frames(frames, advance_every_seconds=advance_every_seconds, known_models=known_models)
