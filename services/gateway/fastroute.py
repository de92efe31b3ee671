"""An ``APIRoute`` whose parameters are validated in one pydantic call, not by FastAPI's solver.

FastAPI validates each parameter on its own and solves dependencies on every request, which cost
about as much as the rest of a cached answer. A ``FastRoute`` takes only query, header and path
parameters (checked at start-up) and builds once one pydantic model of them from the fields FastAPI
made of its signature (same annotations, defaults and constraints, so the same conversions and 422
issues, located ``(in, name)`` as FastAPI's); the signature stays the single source of truth for
OpenAPI too. Valid parameters are remembered per raw input (path parameters, query string, header
values), so a popular query asked again after each generation change is parsed once; invalid input
is not, so every bad request gets its 422 from the same validation.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from types import UnionType
from typing import Any, Union, get_args, get_origin
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError, create_model
from pydantic.fields import FieldInfo

#: Distinct valid inputs remembered per route (cleared when full: query strings are unbounded).
REMEMBERED_INPUTS = 2048


def _is_list(annotation: Any) -> bool:
    """``list[X]`` or ``list[X] | None``: a repeatable query parameter."""
    options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)
    return any(get_origin(option) is list for option in options)


class FastRoute(APIRoute):
    """An API route over query (scalar or repeated), header and path parameters only."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        dependant = self.dependant
        if dependant.dependencies or dependant.body_params or dependant.cookie_params:
            raise TypeError(f"{self.path}: FastRoute takes query/header/path parameters only")
        params = dependant.path_params, dependant.query_params, dependant.header_params
        sources = [
            (place, f)
            for place, fields in zip(("path", "query", "header"), params, strict=True)
            for f in fields
        ]
        where = {field.name: (location, field.alias) for location, field in sources}
        repeated = {
            f.name for location, f in sources if location == "query" and _is_list(f.field_info.annotation)
        }
        model: type[BaseModel] = create_model(  # type: ignore[call-overload]
            f"{self.name}_parameters",
            **{f.name: (f.field_info.annotation, FieldInfo.merge_field_infos(f.field_info, alias=None))
               for _, f in sources},
        )  # fmt: skip
        request_name = dependant.request_param_name  # ``None``: the endpoint takes no request
        endpoint = self.endpoint
        # Every argument passed by position when the request is the first parameter and the rest
        # are the validated ones in signature order (as in every gateway route): no dozen
        # keywords bound by name on every request.
        signature = list(inspect.signature(endpoint).parameters.values())
        by_position = (
            request_name is not None
            and bool(signature)
            and signature[0].name == request_name
            and all(p.kind is p.POSITIONAL_OR_KEYWORD for p in signature)
            and {p.name for p in signature[1:]} == {f.name for _, f in sources}
        )
        order = [p.name for p in signature[1:]]

        # Query parameters by name as sent (the query string is walked once, not looked up per
        # parameter); path and header parameters looked up.
        by_alias = {a: (n, n in repeated) for n, (p, a) in where.items() if p == "query"}
        looked_up = [(p, n, a) for n, (p, a) in where.items() if p != "query"]

        header_aliases = [a.lower().encode("latin-1") for p, _, a in looked_up if p == "header"]
        #: Per raw input: the endpoint's arguments after the request, by position or by name.
        remembered: dict[tuple[Any, ...], tuple[tuple[Any, ...], dict[str, Any]]] = {}

        def input_key(request: Request) -> tuple[Any, ...]:
            scope = request.scope
            key: tuple[Any, ...] = (scope["query_string"], *scope.get("path_params", {}).values())
            if header_aliases:
                sent = dict(scope["headers"])
                key += tuple(sent.get(alias) for alias in header_aliases)
            return key

        def validated(request: Request) -> dict[str, Any]:
            given: dict[str, Any] = {}
            for place, name, alias in looked_up:
                value = (request.path_params if place == "path" else request.headers).get(alias)
                if value is not None:
                    given[name] = value
            query = request.scope["query_string"]
            if query and by_alias:
                # Starlette's parsing (``QueryParams``): the last value of a scalar wins.
                for alias, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                    found = by_alias.get(alias)
                    if found is not None:
                        name, many = found
                        if many:
                            given.setdefault(name, []).append(value)
                        else:
                            given[name] = value
            try:
                parsed = model.model_validate(given)
            except ValidationError as error:
                issues = error.errors(include_url=False)
                for issue in issues:
                    issue["loc"] = (*where[str(issue["loc"][0])], *issue["loc"][1:])
                raise RequestValidationError(issues) from None
            return parsed.__dict__

        async def handler(request: Request) -> Response:
            key = input_key(request)
            found = remembered.get(key)
            if found is None:
                values = validated(request)
                found = (tuple(values[name] for name in order), {}) if by_position else ((), values)
                if len(remembered) >= REMEMBERED_INPUTS:
                    remembered.clear()
                remembered[key] = found
            args, keywords = found
            if by_position:
                response: Response = await endpoint(request, *args)
            elif request_name is None:
                response = await endpoint(**keywords)
            else:
                response = await endpoint(**keywords, **{request_name: request})
            return response

        return handler
