"""A capture folder: one recorded day of AI Horde answers with the model reference in force then.

``make run OFFLINE=1 DATA=<folder>`` serves such a folder, and ``python -m devtools.devstack.replay``
checks the stack's answers against the pure domain over it. Layout (the README's "Your own data")::

    <folder>/
      reference/     the model reference in the legacy layout the watcher reads:
                     image/stable_diffusion.json (and other category files),
                     text/models.csv (or text/db.json)
      horde_api/     the recorded AI Horde answers, one file per endpoint:
                     status_models_image.json   GET /v2/status/models?type=image
                     status_models_text.json    GET /v2/status/models?type=text
                     stats_models_image.json    GET /v2/stats/img/models
                     stats_models_text.json     GET /v2/stats/text/models
                     workers.json               GET /v2/workers
      styles/        optional: the AI Horde styles in force (styles.json and categories.json);
                     without it the run has no styles (no style impact), never someone else's

Every endpoint file is required. An answer the capture does not hold is declared with an empty
marker file ``<name>.not-recorded`` instead: the stand-in then answers 404 for it, the poller reports
that source as failing, and answers list it in ``missing_sources`` rather than serving an invented
empty payload as data. A missing, unreadable or invalid file stops the start with an error that
names the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from devtools.horde_standin.scenario import NOT_RECORDED_SUFFIX, PAYLOAD_KEYS
from services.reference_watcher.sources import FolderSource
from shared.domain.categories import HordeModelType, ModelCategory
from shared.domain.horde.payloads import HordeModelStats, HordeModelStatus, HordeSnapshot, HordeWorker
from shared.domain.impact.styles import StyleCatalog, StylesFormatError, parse_styles
from shared.domain.reference.parse import parse_reference
from shared.domain.reference.records import ReferenceSnapshot
from shared.domain.reference.validation import ReferenceFormatError

_STATUS = TypeAdapter(tuple[HordeModelStatus, ...])
_WORKERS = TypeAdapter(tuple[HordeWorker, ...])


class CaptureError(Exception):
    """The capture folder cannot be served; the message names the file and what is wrong with it."""


@dataclass(frozen=True)
class Capture:
    """A checked capture folder, parsed: what the domain computes from and what the stack serves."""

    folder: Path
    references: dict[ModelCategory, ReferenceSnapshot]
    #: The recorded answers per endpoint file name; ``None`` where marked not recorded.
    status: dict[HordeModelType, tuple[HordeModelStatus, ...] | None]
    stats: dict[HordeModelType, HordeModelStats | None]
    workers: tuple[HordeWorker, ...] | None
    #: The text reference file that was read (``models.csv`` or ``db.json``), None without text.
    text_source: str | None
    #: The styles of ``styles/``, None when the capture has none.
    styles: StyleCatalog | None = None

    @property
    def styles_dir(self) -> Path:
        return self.folder / "styles"

    def styles_env(self) -> dict[str, str]:
        """Settings that make the watcher read this capture's styles, or none at all."""
        if self.styles is None:
            return {"HORDE_REFERENCE__STYLES_SOURCE": "off"}
        return {
            "HORDE_REFERENCE__STYLES_SOURCE": "folder",
            "HORDE_REFERENCE__STYLES_FOLDER": str(self.styles_dir),
        }

    @property
    def reference_dir(self) -> Path:
        return self.folder / "reference"

    @property
    def horde_dir(self) -> Path:
        return self.folder / "horde_api"

    def horde_snapshot(self, model_type: HordeModelType) -> HordeSnapshot:
        """What the poller publishes for ``model_type`` from these files (workers of that type)."""
        workers = self.workers
        return HordeSnapshot(
            model_type=model_type,
            status=self.status[model_type],
            stats=self.stats[model_type],
            workers=None if workers is None else tuple(w for w in workers if w.type == model_type),
        )


def _read(path: Path) -> bytes | None:
    """The file's bytes; ``None`` when it is marked not recorded; CaptureError when neither exists."""
    marker = path.with_suffix(NOT_RECORDED_SUFFIX)
    if path.is_file():
        try:
            return path.read_bytes()
        except OSError as exc:
            raise CaptureError(f"{path}: cannot be read: {exc}") from exc
    if marker.is_file():
        return None
    raise CaptureError(f"{path}: missing (record it, or declare it with an empty {marker.name})")


def _json(path: Path, raw: bytes) -> object:
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CaptureError(f"{path}: not valid JSON: {exc}") from exc


def _references(folder: Path) -> tuple[dict[ModelCategory, ReferenceSnapshot], str | None]:
    if not folder.is_dir():
        raise CaptureError(f"{folder}: missing (the reference folder of the capture)")
    references: dict[ModelCategory, ReferenceSnapshot] = {}
    text_source = None
    for category, fmt, path in FolderSource(folder, "legacy").files():
        try:
            references[category] = parse_reference(category, path.read_bytes(), format=fmt, version="")
        except (OSError, ReferenceFormatError) as exc:
            raise CaptureError(f"{path}: unusable reference file: {exc}") from exc
        if category is ModelCategory.TEXT_GENERATION:
            text_source = path.name
    if not references:
        raise CaptureError(
            f"{folder}: holds no reference file (image/*.json, text/models.csv or text/db.json)"
        )
    return references, text_source


def load_capture(folder: Path) -> Capture:
    """Check and parse every file of the capture at ``folder`` (see the module docstring)."""
    if not folder.is_dir():
        raise CaptureError(f"{folder}: no such capture folder")
    references, text_source = _references(folder / "reference")
    horde = folder / "horde_api"
    if not horde.is_dir():
        raise CaptureError(f"{horde}: missing (the recorded AI Horde answers of the capture)")
    parsed: dict[str, object] = {}
    for key in PAYLOAD_KEYS:
        path = horde / f"{key}.json"
        raw = _read(path)
        if raw is None:
            parsed[key] = None
            continue
        data = _json(path, raw)
        try:
            if key.startswith("status_"):
                parsed[key] = _STATUS.validate_python(data)
            elif key.startswith("stats_"):
                parsed[key] = HordeModelStats.model_validate(data)
            else:
                parsed[key] = _WORKERS.validate_python(data)
        except ValidationError as exc:
            raise CaptureError(f"{path}: not a valid AI Horde answer: {exc.errors()[0]}") from exc
    return Capture(
        folder=folder,
        references=references,
        status={"image": parsed["status_models_image"], "text": parsed["status_models_text"]},  # type: ignore[dict-item]
        stats={"image": parsed["stats_models_image"], "text": parsed["stats_models_text"]},  # type: ignore[dict-item]
        workers=parsed["workers"],  # type: ignore[arg-type]
        text_source=text_source,
        styles=_styles(folder / "styles"),
    )


def _styles(folder: Path) -> StyleCatalog | None:
    """The capture's styles (both files), None without a ``styles/`` folder."""
    if not folder.is_dir():
        return None
    files = [folder / "styles.json", folder / "categories.json"]
    for path in files:
        if not path.is_file():
            raise CaptureError(f"{path}: missing (a capture's styles/ holds styles.json and categories.json)")
    try:
        return parse_styles(files[0].read_bytes(), files[1].read_bytes())
    except (OSError, StylesFormatError) as exc:
        raise CaptureError(f"{folder}: unusable styles: {exc}") from exc
