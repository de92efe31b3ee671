# syntax=docker/dockerfile:1.7
# One image for every service (ghcr.io/haidra-org/horde-model-analytics): the services differ only
# by their command, `python -m services.<service>`. Compose and Kubernetes set that command; the
# build argument SERVICE (or --target <service>) only chooses the image's default CMD:
#
#   docker build -t ghcr.io/haidra-org/horde-model-analytics:TAG .            # default CMD: gateway
#   docker build --build-arg SERVICE=poller -t hma-poller .                   # default CMD: poller
#   docker build --target analytics -t hma-analytics .                        # same, by target
#
# SERVICE: poller | reference_watcher | analytics | gateway | horde_standin
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG SERVICE=gateway

# --- build: resolve the locked runtime dependencies into /app/.venv with uv --------------------
FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# Dependencies first (cached while only our code changes), exactly as locked, without the dev group.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project
# Then our two packages, installed as a wheel (not editable): the venv is self-contained.
COPY README.md LICENSE ./
COPY shared ./shared
COPY services ./services
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

# --- runtime: the venv, the recorded data for offline runs, a non-root user; no uv, no compilers ---
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home app
WORKDIR /app
COPY --from=build --chown=root:root /app/.venv /app/.venv
# The stand-in's recorded AI Horde answers and the reference used by `HORDE_REFERENCE__SOURCE=folder`
# (the settings' defaults are relative to /app).
COPY --chown=root:root tests/fixtures/data ./tests/fixtures/data
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HORDE_HTTP_PORT=8080
USER 10001:10001
EXPOSE 8080
# No curl in slim images: probe /healthz with the interpreter we ship.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('HORDE_HTTP_PORT', '8080'), timeout=4)"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "services.gateway"]

# --- one target per service: the same image with that service's default command ---------------
FROM runtime AS poller
CMD ["python", "-m", "services.poller"]

FROM runtime AS reference_watcher
CMD ["python", "-m", "services.reference_watcher"]

FROM runtime AS analytics
CMD ["python", "-m", "services.analytics"]

FROM runtime AS horde_standin
CMD ["python", "-m", "services.horde_standin"]

FROM runtime AS gateway
CMD ["python", "-m", "services.gateway"]

# --- default target: the service named by the build argument ----------------------------------
FROM ${SERVICE} AS service
