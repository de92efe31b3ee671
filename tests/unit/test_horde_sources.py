"""The Horde source table is complete and is what the poller and the event contract use (issue 15)."""

from __future__ import annotations

from typing import get_args

from shared.asyncapi import CATALOGUE
from shared.events.horde import SourceHealthReported
from shared.horde_sources import HORDE_SOURCES, SOURCE, Endpoint
from shared.settings import HordeApiSettings
from shared.topics import ALL_TOPICS, ANALYTICS_INPUTS


def test_every_endpoint_has_one_row() -> None:
    assert sorted(SOURCE) == sorted(get_args(Endpoint))
    assert len(HORDE_SOURCES) == len(SOURCE)
    assert get_args(SourceHealthReported.model_fields["endpoint"].annotation) == get_args(Endpoint)


def test_each_row_names_real_settings_events_and_topics() -> None:
    settings = HordeApiSettings()
    catalogue = {spec: model for spec, model, _, _ in CATALOGUE}
    for source in HORDE_SOURCES:
        assert set(source.requests) == {"image", "text"}
        assert isinstance(getattr(settings, source.cadence_setting), float)
        assert source.event_field in source.event.model_fields
        assert source.topic in ALL_TOPICS
        assert source.topic in ANALYTICS_INPUTS
        assert catalogue[source.topic] is source.event
