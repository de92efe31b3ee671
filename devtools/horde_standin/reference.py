"""Known/custom model classification for ``model_state``, approximating the Horde's own rule.

The real server judges ``known`` against its copy of the legacy reference (image:
``stable_diffusion.json`` keys; text: ``db.json`` keys, which already include the ``koboldcpp/``
and ``aphrodite/`` variants). It also strips a ``::user#id`` suffix from text names. The stand-in
additionally maps a trailing GGUF quantisation suffix back to its base name (``.Q5_K_M``), the way
the synthetic snapshot assumes. ``custom`` is approximated as "not known": the real server means
"offered by a customizer worker", which public worker data does not reveal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

_QUANT_SUFFIX = re.compile(r"[.-](?:i1-)?I?Q\d\w*$", re.IGNORECASE)


def load_known_models(reference_dir: str | Path) -> dict[str, frozenset[str]]:
    """Reference names per model type from a folder with ``image/`` and ``text/`` legacy files."""
    folder = Path(reference_dir)
    known: dict[str, frozenset[str]] = {}
    for model_type, relative in (("image", "image/stable_diffusion.json"), ("text", "text/db.json")):
        path = folder / relative
        if path.is_file():
            known[model_type] = frozenset(json.loads(path.read_bytes()))
    return known


def is_known(name: str, model_type: str, known: Mapping[str, frozenset[str]] | None) -> bool:
    """Whether ``name`` counts as a reference model; with no reference at all, everything does."""
    if known is None or model_type not in known:
        return True
    names = known[model_type]
    if name in names:
        return True
    if model_type != "text":
        return False
    base = name.split("::", 1)[0]
    return base in names or _QUANT_SUFFIX.sub("", base) in names


def model_state_filter(
    names: list[str], model_type: str, state: str, known: Mapping[str, frozenset[str]] | None
) -> set[str]:
    """The subset of ``names`` kept by ``model_state`` (``known``, ``custom`` or ``all``)."""
    if state == "all":
        return set(names)
    want_known = state == "known"
    return {name for name in names if is_known(name, model_type, known) is want_known}
