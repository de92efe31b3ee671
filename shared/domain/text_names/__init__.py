"""Text-model names: parser (spec §4.9, D39/D40 fixed), name helpers and grouping (§4.10).

Pure functions only; results of the parser, ``get_base_model_name`` and ``group_key`` are memoised
(and immutable).
"""

from shared.domain.text_names.helpers import (
    get_base_model_name,
    get_model_size,
    get_model_variant,
    group_key,
    group_text_models_by_base,
    is_quantized_variant,
    normalize_group_key,
    strip_backend_prefix,
    strip_user_suffix,
)
from shared.domain.text_names.models import (
    ExtraNamePart,
    ExtraPartType,
    ParsedTextModelName,
    TextModelGroup,
)
from shared.domain.text_names.parser import normalize_model_name, parse_text_model_name

__all__ = [
    "ExtraNamePart",
    "ExtraPartType",
    "ParsedTextModelName",
    "TextModelGroup",
    "get_base_model_name",
    "get_model_size",
    "get_model_variant",
    "group_key",
    "group_text_models_by_base",
    "is_quantized_variant",
    "normalize_group_key",
    "normalize_model_name",
    "parse_text_model_name",
    "strip_backend_prefix",
    "strip_user_suffix",
]
