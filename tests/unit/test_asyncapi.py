"""The committed AsyncAPI document is the one generated from the event models."""

from __future__ import annotations

import json
from pathlib import Path

from shared.asyncapi import build_document
from shared.topics import ALL_TOPICS

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"


def test_committed_asyncapi_matches_the_code() -> None:
    assert json.loads(DOCUMENT.read_text()) == build_document(), (
        "run: python -m shared.asyncapi > docs/asyncapi.json"
    )


def test_every_topic_and_its_dead_letter_topic_is_documented() -> None:
    channels = build_document()["channels"]
    for spec in ALL_TOPICS:
        assert spec.name in channels
        assert spec.dead_letter in channels
