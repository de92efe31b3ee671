"""The 15 model-reference categories and which of them carry AI Horde runtime data."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class ModelCategory(StrEnum):
    """Model-reference categories, in upstream declaration order (order is part of the contract)."""

    BLIP = "blip"
    CLIP = "clip"
    CODEFORMER = "codeformer"
    CONTROLNET = "controlnet"
    CONTROLNET_ANNOTATOR = "controlnet_annotator"
    ESRGAN = "esrgan"
    GFPGAN = "gfpgan"
    SAFETY_CHECKER = "safety_checker"
    IMAGE_GENERATION = "image_generation"
    TEXT_GENERATION = "text_generation"
    VIDEO_GENERATION = "video_generation"
    AUDIO_GENERATION = "audio_generation"
    MISCELLANEOUS = "miscellaneous"
    LORA = "lora"
    TI = "ti"


HordeModelType = Literal["image", "text"]

#: Categories for which the AI Horde reports workers and usage, with the Horde's model type.
RUNTIME_CATEGORIES: dict[ModelCategory, HordeModelType] = {
    ModelCategory.IMAGE_GENERATION: "image",
    ModelCategory.TEXT_GENERATION: "text",
}

#: Inverse of :data:`RUNTIME_CATEGORIES`.
CATEGORY_OF_MODEL_TYPE: dict[HordeModelType, ModelCategory] = {v: k for k, v in RUNTIME_CATEGORIES.items()}

#: Text backends in lookup order (canonical spelling first, then these prefixes).
TEXT_BACKENDS: tuple[str, ...] = ("aphrodite", "koboldcpp")


def has_runtime_data(category: ModelCategory) -> bool:
    """True for the categories the Horde serves (image and text generation)."""
    return category in RUNTIME_CATEGORIES
