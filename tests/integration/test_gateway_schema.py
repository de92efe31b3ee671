"""Schemathesis over the gateway's own OpenAPI document, in-process, against worker-filled Redis.

Every documented operation (except the endless event streams) is called with generated
parameters, valid (positive) and invalid (negative), plus requests on the real categories: no
answer may be a 5xx, and every answer must match the documented status codes, content types and
schemas. Bounded (30 examples per operation and mode) and deterministic (derandomized).
(``schemathesis.pytest.from_fixture`` fails under pytest 9, hence explicit strategies.)
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.gateway.app import create_app
from tests.integration.test_gateway import Filled, filled  # noqa: F401  (the shared fixture)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

SEEN: list[tuple[str, int]] = []
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
BOUNDED = settings(
    max_examples=30,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def operations(filled: Filled) -> list[Any]:  # noqa: F811
    app = create_app(filled.settings)  # schemathesis runs the app's lifespan in its own loop
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path_regex=r"/events$")
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) == 10  # six listing/model routes, /heartbeat, the removal proposal, two history routes
    return found


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_gateway_conforms_to_its_openapi_document(filled: Filled, mode: GenerationMode) -> None:  # noqa: F811
    SEEN.clear()
    for operation in operations(filled):
        has_category = "{category}" in operation.path
        if mode is GenerationMode.NEGATIVE and not has_category:
            continue  # /heartbeat takes no parameters: nothing to make invalid
        strategies = [operation.as_strategy(generation_mode=mode)]
        if mode is GenerationMode.POSITIVE and has_category:  # also the real categories
            real = st.sampled_from(["image_generation", "text_generation", "clip"])
            strategies.append(
                real.flatmap(lambda c, op=operation: op.as_strategy(path_parameters={"category": c}))
            )

        @BOUNDED
        @given(case=st.one_of(strategies))
        def call(case: schemathesis.Case) -> None:
            response = case.call_and_validate(checks=CHECKS)
            SEEN.append((case.operation.label, response.status_code))

        call()
    assert {status for _, status in SEEN} >= ({200, 404} if mode is GenerationMode.POSITIVE else {404, 422})
