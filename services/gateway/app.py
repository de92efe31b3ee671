"""The gateway's FastAPI application: upstream routes over materialised views, probes, metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from redis.asyncio import Redis

from services.gateway.errors import ErrorBody
from services.gateway.freshness import freshness_headers, freshness_of
from services.gateway.reader import NotMaterialisedError, read_view
from shared.domain.categories import RUNTIME_CATEGORIES, ModelCategory
from shared.domain.risk.models import CategoryDeletionRiskResponse
from shared.domain.statistics import CategoryStatistics
from shared.domain.views import effective_risk_flags, risk_view, statistics_view, with_stats_view
from shared.metrics import render_metrics
from shared.redis_keys import RedisKeys
from shared.settings import Settings
from shared.store.generations import GenerationStore

PREFIX = "/model_references/statistics"
VALID_CATEGORIES = [c.value for c in ModelCategory]
RUNTIME = sorted(c.value for c in RUNTIME_CATEGORIES)

CategoryPath = Annotated[str, Path(description="Model-reference category", examples=["image_generation"])]


class GatewayError(Exception):
    """An error answer with a status code and body."""

    def __init__(self, status: int, body: ErrorBody, headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or {}


def _category(name: str, *, runtime: bool) -> ModelCategory:
    try:
        category = ModelCategory(name)
    except ValueError:
        raise GatewayError(
            404, ErrorBody(detail=f"Unknown category {name!r}.", valid_values=VALID_CATEGORIES)
        ) from None
    if runtime and category not in RUNTIME_CATEGORIES:
        raise GatewayError(
            400,
            ErrorBody(
                detail=f"Category {name!r} has no AI Horde runtime data; only {', '.join(RUNTIME)} do.",
                valid_values=RUNTIME,
            ),
        )
    return category


def create_app(settings: Settings, *, redis: Redis | None = None) -> FastAPI:
    """The gateway app; ``redis`` may be injected (tests), otherwise one client is owned here."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = redis or Redis.from_url(
            settings.redis.url, password=settings.redis.password.get_secret_value() or None
        )
        app.state.redis = client
        app.state.store = GenerationStore(
            client,
            RedisKeys(settings.redis.key_prefix),
            superseded_ttl_seconds=settings.redis.generation_ttl_seconds,
        )
        try:
            yield
        finally:
            if redis is None:
                await client.aclose()

    app = FastAPI(
        title="Horde Model Analytics gateway",
        version="1",
        lifespan=lifespan,
        description="Read-only statistics and deletion risk of the AI Horde model reference.",
    )
    if settings.gateway.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.gateway.cors_origins,
            allow_methods=["GET"],
            allow_headers=["*"],
            expose_headers=[
                "ETag",
                "X-Computed-At",
                "X-Data-Stale",
                "X-Reference-Version",
                "X-Horde-Snapshot-At",
            ],
        )

    @app.exception_handler(GatewayError)
    async def gateway_error(_: Request, error: GatewayError) -> JSONResponse:
        return JSONResponse(
            error.body.model_dump(exclude_none=True), status_code=error.status, headers=error.headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": error.errors()}, status_code=422)

    async def answer(request: Request, category: ModelCategory, view: str) -> Response:
        try:
            found = await read_view(request.app.state.store, category, view)
        except NotMaterialisedError as missing:
            raise GatewayError(
                503, ErrorBody(detail=str(missing), retry_after_seconds=5), {"Retry-After": "5"}
            ) from None
        freshness = freshness_of(found.current, stale_after_seconds=settings.analytics.stale_after_seconds)
        headers = freshness_headers(freshness, view)
        if request.headers.get("if-none-match") == headers["ETag"]:
            return Response(status_code=304, headers=headers)
        return Response(found.body, media_type="application/json", headers=headers)

    @app.get(
        f"{PREFIX}/{{category}}",
        response_model=CategoryStatistics,
        operation_id="read_v2_category_statistics",
        tags=["statistics"],
        responses={404: {"model": ErrorBody}, 503: {"model": ErrorBody}},
    )
    async def category_statistics(
        request: Request, category: CategoryPath, group_text_models: bool = False
    ) -> Response:
        """Static statistics of a category's reference (all 15 categories)."""
        chosen = _category(category, runtime=False)
        return await answer(
            request, chosen, statistics_view(group_text_models and chosen is ModelCategory.TEXT_GENERATION)
        )

    @app.get(
        f"{PREFIX}/{{category}}/with-stats",
        operation_id="read_models_with_stats",
        tags=["statistics"],
        response_model=dict[str, Any],
        responses={400: {"model": ErrorBody}, 404: {"model": ErrorBody}, 503: {"model": ErrorBody}},
    )
    async def with_stats(
        request: Request,
        category: CategoryPath,
        include_workers: bool = False,
        include_backend_variations: bool = False,
    ) -> Response:
        """Per-model runtime statistics (workers, threads, queue, usage) of image or text models."""
        chosen = _category(category, runtime=True)
        return await answer(request, chosen, with_stats_view(include_workers, include_backend_variations))

    async def deletion_risk(
        request: Request, category: str, group_text_models: bool, include_backend_variations: bool
    ) -> Response:
        chosen = _category(category, runtime=True)
        grouped, variations = effective_risk_flags(chosen, group_text_models, include_backend_variations)
        return await answer(request, chosen, risk_view(grouped, variations))

    risk_responses: dict[int | str, dict[str, Any]] = {
        400: {"model": ErrorBody},
        404: {"model": ErrorBody},
        503: {"model": ErrorBody},
    }

    @app.get(
        f"{PREFIX}/{{category}}/deletion-risk",
        response_model=CategoryDeletionRiskResponse,
        operation_id="read_v2_category_deletion_risk",
        tags=["deletion-risk"],
        responses=risk_responses,
    )
    async def category_deletion_risk(
        request: Request,
        category: CategoryPath,
        group_text_models: bool = False,
        include_backend_variations: bool = False,
    ) -> Response:
        """Deletion-risk analysis of every model of image or text generation."""
        return await deletion_risk(request, category, group_text_models, include_backend_variations)

    @app.get(
        f"{PREFIX}/{{category}}/audit",
        response_model=CategoryDeletionRiskResponse,
        operation_id="read_v2_category_audit",
        tags=["deletion-risk"],
        responses=risk_responses,
    )
    async def category_audit(
        request: Request,
        category: CategoryPath,
        group_text_models: bool = False,
        include_backend_variations: bool = False,
    ) -> Response:
        """Alias of ``/deletion-risk`` kept for the deployed frontend."""
        return await deletion_risk(request, category, group_text_models, include_backend_variations)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        try:
            ok = bool(await request.app.state.redis.ping())
        except Exception:
            ok = False
        return JSONResponse({"ready": ok, "checks": {"redis": ok}}, status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        body, content_type = render_metrics()
        return Response(body, media_type=content_type)

    return app
