"""Building frozen pydantic models from values the domain has already validated or computed.

A recompute builds thousands of result models (merge, risk analysis, grouping) from data that was
validated when it entered the system. ``Model(**values)`` validates every field again (and runs
model validators), and pydantic's ``model_construct`` fills defaults in a Python loop over all
fields, which for these models is even slower than validating. The builders on the hot path use
:func:`build_trusted` and :func:`copy_trusted` instead; the models keep their validators for
external input, and ``tests/unit/domain/test_trusted_construction.py`` checks that every object
built this way equals, and serialises exactly like, its validated counterpart.

Contract of :func:`build_trusted`: the model is frozen, and ``values`` holds **every** field of
the model, in declaration order (serialisation follows the instance's ``__dict__`` order), each
already of its declared type (tuples for tuple fields, ``float`` for float fields, model instances
for nested models).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

_set_attribute = object.__setattr__
#: The fields set of every trusted instance of a class: all its fields, in one set per class.
_ALL_FIELDS: dict[type[BaseModel], set[str]] = {}


def _all_fields(cls: type[BaseModel]) -> set[str]:
    """One ``__pydantic_fields_set__`` per class, shared by its trusted instances.

    Pydantic changes that set in place only when assigning to a field, which frozen models
    refuse (``model_copy`` copies it before updating). Sharing saves a set per instance, about a
    tenth of a text recompute, so only frozen models are accepted.
    """
    fields = _ALL_FIELDS.get(cls)
    if fields is None:
        if not cls.model_config.get("frozen"):
            raise TypeError(f"{cls.__name__} is not frozen; build it with validation")
        fields = _ALL_FIELDS[cls] = set(cls.model_fields)
    return fields


def build_trusted(cls: type[M], values: dict[str, Any]) -> M:
    """An instance of ``cls`` holding ``values`` as they are (see the module contract); no validation.

    Sets what ``BaseModel.model_construct`` sets, without its per-field loop; ``cls`` must be
    frozen. ``values`` is owned by the instance afterwards: do not reuse the dict.
    """
    model = cls.__new__(cls)
    _set_attribute(model, "__dict__", values)
    _set_attribute(model, "__pydantic_fields_set__", _all_fields(cls))
    _set_attribute(model, "__pydantic_extra__", None)
    _set_attribute(model, "__pydantic_private__", None)
    return model


def copy_trusted(model: M, update: Mapping[str, Any]) -> M:
    """Shallow copy of ``model`` with some fields replaced, like ``model_copy(update=...)``, but cheaper.

    Only for models without extra or private attributes (all domain result models); ``update``
    must name existing fields with values of their declared types.
    """
    return build_trusted(type(model), {**model.__dict__, **update})
