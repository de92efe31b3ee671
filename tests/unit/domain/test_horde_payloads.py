"""Payload validation: malformed Horde entries are rejected with a clear error, never turned into zeros."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from shared.domain.horde.payloads import HordeModelStats, HordeModelStatus, HordeWorker

_GOOD: dict[str, Any] = {
    "performance": 21.1,
    "queued": 0.0,
    "jobs": 0.0,
    "eta": 0,
    "type": "text",
    "name": "koboldcpp/X",
    "count": 1,
}


def _error_of(payload: dict[str, Any]) -> tuple[tuple[str | int, ...], str]:
    with pytest.raises(ValidationError) as caught:
        HordeModelStatus.model_validate(payload)
    errors = caught.value.errors()
    assert len(errors) == 1
    return errors[0]["loc"], errors[0]["type"]


def test_status_missing_name_is_rejected() -> None:
    payload = {key: value for key, value in _GOOD.items() if key != "name"}
    assert _error_of(payload) == (("name",), "missing")


def test_status_string_count_is_rejected() -> None:
    assert _error_of({**_GOOD, "count": "many"}) == (("count",), "int_parsing")


def test_status_negative_count_is_rejected() -> None:
    assert _error_of({**_GOOD, "count": -1}) == (("count",), "greater_than_equal")


def test_status_fractional_count_is_rejected() -> None:
    assert _error_of({**_GOOD, "count": 1.5}) == (("count",), "int_from_float")


def test_status_fractional_jobs_and_queued_validate_d22() -> None:
    # D22: the Horde types jobs/queued as numbers; upstream's int typing rejected the whole response.
    status = HordeModelStatus.model_validate({**_GOOD, "jobs": 2.5, "queued": 1234.75})
    assert (status.jobs, status.queued) == (2.5, 1234.75)


def test_status_unknown_fields_are_ignored() -> None:
    assert HordeModelStatus.model_validate({**_GOOD, "new_field": 1}).name == "koboldcpp/X"


def test_stats_non_integer_usage_is_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        HordeModelStats.model_validate({"day": {"A": "x"}, "month": {}, "total": {}})
    assert caught.value.errors()[0]["loc"] == ("day", "A")


def test_worker_missing_id_is_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        HordeWorker.model_validate({"name": "w", "type": "text"})
    assert caught.value.errors()[0]["loc"] == ("id",)
