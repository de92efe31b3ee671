"""An ``APIRoute`` whose parameters are parsed by small precompiled closures, not FastAPI's solver.

FastAPI's generic dependency solving and pydantic validation of the query cost about as much as
the rest of a cached answer. The gateway's parameters are all scalars (bool, int with bounds,
str with a length cap, a str enum), so each route compiles its own declared parameters once
(the signature stays the single source of truth, and FastAPI still documents them in OpenAPI)
into converters with FastAPI's semantics: the same boolean spellings, bounds and 422 errors.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Coroutine
from enum import Enum
from typing import Any, Union, cast, get_args, get_origin

from annotated_types import Ge, Le, MaxLen
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic_core import PydanticUndefined

_TRUE = frozenset(("1", "on", "t", "true", "y", "yes"))
_FALSE = frozenset(("0", "off", "f", "false", "n", "no"))
Issue = dict[str, Any]
Parser = Callable[[Request, dict[str, Any], list[Issue]], None]


def _issue(kind: str, location: str, name: str, msg: str, raw: str, **ctx: Any) -> Issue:
    issue: Issue = {"type": kind, "loc": (location, name), "msg": msg, "input": raw}
    if ctx:
        issue["ctx"] = ctx
    return issue


def _base(annotation: Any) -> Any:
    """``X | None`` → ``X``."""
    if get_origin(annotation) in (Union, types.UnionType):
        return next(a for a in get_args(annotation) if a is not type(None))
    return annotation


def _converter(
    annotation: Any, metadata: list[Any]
) -> Callable[[str], tuple[Any, tuple[str, str, dict[str, Any]] | None]]:
    """String → (value, None) or (None, (error type, message, context))."""
    base = _base(annotation)
    ge: int | None = next((cast(int, m.ge) for m in metadata if isinstance(m, Ge)), None)
    le: int | None = next((cast(int, m.le) for m in metadata if isinstance(m, Le)), None)
    max_len = next((m.max_length for m in metadata if isinstance(m, MaxLen)), None)
    if base is bool:

        def to_bool(raw: str) -> tuple[Any, Any]:
            folded = raw.strip().lower()
            if folded in _TRUE or folded in _FALSE:
                return folded in _TRUE, None
            return None, ("bool_parsing", "Input should be a valid boolean, unable to interpret input", {})

        return to_bool
    if base is int:

        def to_int(raw: str) -> tuple[Any, Any]:
            try:
                value = int(raw.strip())
            except ValueError:
                return None, (
                    "int_parsing",
                    "Input should be a valid integer, unable to parse string as an integer",
                    {},
                )
            if ge is not None and value < ge:
                return None, (
                    "greater_than_equal",
                    f"Input should be greater than or equal to {ge}",
                    {"ge": ge},
                )
            if le is not None and value > le:
                return None, ("less_than_equal", f"Input should be less than or equal to {le}", {"le": le})
            return value, None

        return to_int
    if isinstance(base, type) and issubclass(base, Enum):
        members = {member.value: member for member in base}
        expected = " or ".join(f"'{v}'" for v in members)

        def to_enum(raw: str) -> tuple[Any, Any]:
            if raw in members:
                return members[raw], None
            return None, ("enum", f"Input should be {expected}", {"expected": expected})

        return to_enum
    if base is str:

        def to_str(raw: str) -> tuple[Any, Any]:
            if max_len is not None and len(raw) > max_len:
                message = f"String should have at most {max_len} characters"
                return None, ("string_too_long", message, {"max_length": max_len})
            return raw, None

        return to_str
    raise TypeError(f"FastRoute does not support parameters of type {annotation!r}")


def _parser(field: Any, location: str) -> Parser:
    name, alias, info = field.name, field.alias, field.field_info
    convert = _converter(info.annotation, list(info.metadata))
    required = info.default is PydanticUndefined
    default = None if required else info.default

    def parse(request: Request, into: dict[str, Any], issues: list[Issue]) -> None:
        source: Any = (
            request.query_params
            if location == "query"
            else request.headers
            if location == "header"
            else request.path_params
        )
        raw = source.get(alias)
        if raw is None:
            if required:
                issues.append(_issue("missing", location, alias, "Field required", ""))
            into[name] = default
            return
        value, problem = convert(raw)
        if problem is not None:
            kind, message, ctx = problem
            issues.append(_issue(kind, location, alias, message, raw, **ctx))
        into[name] = value

    return parse


class FastRoute(APIRoute):
    """An API route over scalar query, header and path parameters only (checked at start-up)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        dependant = self.dependant
        if dependant.dependencies or dependant.body_params or dependant.cookie_params:
            raise TypeError(f"{self.path}: FastRoute takes scalar query/header/path parameters only")
        parsers = [
            *(_parser(f, "path") for f in dependant.path_params),
            *(_parser(f, "query") for f in dependant.query_params),
            *(_parser(f, "header") for f in dependant.header_params),
        ]
        request_name = dependant.request_param_name or "request"
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            values: dict[str, Any] = {request_name: request}
            issues: list[Issue] = []
            for parse in parsers:
                parse(request, values, issues)
            if issues:
                raise RequestValidationError(issues)
            response: Response = await endpoint(**values)
            return response

        return handler
