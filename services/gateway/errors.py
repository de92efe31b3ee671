"""Error bodies of the gateway: ``{"detail": ...}`` like upstream, with machine-readable extras."""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

#: The id of the request being answered (``None`` outside a request; set by ``RequestContext``).
request_id: ContextVar[bytes | None] = ContextVar("request_id", default=None)
#: Longest part of a client's input repeated in an error body.
ECHO_CHARS = 80


def echo(value: object) -> str:
    """``repr`` of a client's input, cut to ``ECHO_CHARS`` (a 10 KB model name is not sent back)."""
    text = repr(value)
    if len(text) <= ECHO_CHARS:
        return text
    return f"{text[:ECHO_CHARS]}… ({len(str(value))} characters)"


class ErrorBody(BaseModel):
    """An error answer: ``detail`` says what happened and what to do."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={"examples": [{"detail": "Unknown preset 'x'.", "valid_values": ["critical"]}]},
    )

    detail: str
    #: The accepted values of the rejected parameter (unknown category, preset, sort field...).
    valid_values: list[str] | None = None
    #: When to try again (503 before the first generation, 429 when streams are full).
    retry_after_seconds: int | None = None
    #: FastAPI's standard validation issues (``loc``, ``msg``, ``type``) of a 422.
    errors: list[dict[str, Any]] | None = None
    #: The request's ``X-Request-Id`` (quote it when reporting a problem).
    request_id: str | None = None

    def render(self) -> bytes:
        """The JSON body with the current request's id (no ``null`` extras)."""
        rid = request_id.get()
        body = self if rid is None else self.model_copy(update={"request_id": rid.decode("ascii")})
        return body.model_dump_json(exclude_none=True).encode()


class GatewayError(Exception):
    """An error answer with a status code and body, raised anywhere below a route."""

    def __init__(self, status: int, body: ErrorBody, headers: dict[str, str] | None = None) -> None:
        super().__init__(body.detail)
        self.status, self.body, self.headers = status, body, headers or {}

    def response(self) -> Response:
        """The JSON answer, with the current request's id."""
        return Response(self.body.render(), self.status, self.headers, media_type="application/json")


def invalid_request(error: RequestValidationError) -> GatewayError:
    """422 with FastAPI's issues, each rejected input repeated bounded."""
    issues = jsonable_encoder(error.errors())
    for issue in issues:
        if isinstance(issue.get("input"), str) and len(issue["input"]) > ECHO_CHARS:
            issue["input"] = issue["input"][:ECHO_CHARS] + "…"
    parts = [
        f"{'.'.join(str(p) for p in issue.get('loc', ())[1:]) or 'request'}: {issue.get('msg')}"
        for issue in issues
    ]
    return GatewayError(422, ErrorBody(detail="Invalid request: " + "; ".join(parts), errors=issues))


def failure(status: int, detail: str, valid: Sequence[str] | None = None) -> GatewayError:
    """An error answer saying ``detail`` (and, for a closed set, its ``valid`` values)."""
    return GatewayError(status, ErrorBody(detail=detail, valid_values=None if valid is None else list(valid)))


def bad_value(parameter: str, value: str, valid: Sequence[str]) -> GatewayError:
    """400 for a value outside a closed set, listing the valid ones (D11, D15)."""
    detail = f"Invalid {parameter}: unknown value {echo(value)}. Valid values: {', '.join(valid)}"
    return failure(400, detail, valid)


def retry_later(status: int, detail: str, seconds: int) -> GatewayError:
    """An error that passes: ``Retry-After`` and ``retry_after_seconds`` say when to ask again."""
    return GatewayError(
        status, ErrorBody(detail=detail, retry_after_seconds=seconds), {"Retry-After": str(seconds)}
    )


def not_materialised(detail: str) -> GatewayError:
    """503 while the workers have not written what the answer needs."""
    return retry_later(503, detail, 5)


def no_models(category: str) -> GatewayError:
    """404 for a valid category whose reference in force has no models (D17, upstream's wording)."""
    return failure(404, f"Category '{category}' not found or has no models")


def store_unavailable() -> GatewayError:
    """503 while Redis does not answer (a restart, a failover): nothing is wrong with the request."""
    detail = "The materialised views are unavailable (Redis does not answer); try again shortly."
    return retry_later(503, detail, 1)


#: OpenAPI ``responses`` entries of the error codes, by code.
ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "A parameter value outside its closed set, or a category without AI Horde runtime data",
    404: "Unknown category (listing the valid ones), a category without models (D17), or unknown model",
    414: "Query string longer than the configured limit",
    409: "The reference file of the category cannot be patched byte-compatibly (removal-proposal patch)",
    422: "A parameter of the wrong type or out of range",
    429: "Too many concurrent event streams",
    503: "Nothing materialised yet for this category or view, or Redis unavailable (see Retry-After)",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the given error codes, all with an ``ErrorBody``."""
    return {code: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[code]} for code in codes}
