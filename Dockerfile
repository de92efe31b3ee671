# syntax=docker/dockerfile:1.7
# One image for every service (ghcr.io/haidra-org/horde-model-analytics): the services differ only
# by their command, `python -m services.<service>`. Compose and Kubernetes set that command; the
# build argument SERVICE (or --target <service>) only chooses the image's default CMD:
#
#   docker build -t ghcr.io/haidra-org/horde-model-analytics:TAG .            # default CMD: gateway
#   docker build --build-arg SERVICE=poller -t hma-poller .                   # default CMD: poller
#   docker build --target analytics -t hma-analytics .                        # same, by target
#
# SERVICE: poller | reference_watcher | analytics | gateway | horde_standin (development only: adds devtools/)
#
# Base images by digest: for a reproducible, tamper-evident build pass the digest of the tag you
# tested, e.g. `--build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:<digest>` (`make image`
# passes PYTHON_IMAGE through; `docker buildx imagetools inspect python:3.11-slim-bookworm` prints the
# digest). Deploy our own image by digest too: README "Operating on Kubernetes" (kustomize `images:`).
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

# --- runtime: the venv and a non-root user; no uv, no compilers, no dev tools, no test data -------
# Only what production runs: the locked runtime dependencies (the embedded development broker and the
# test tools are the dev group, left out above) and our two packages. The recorded data for offline
# runs is not in the image: Compose mounts tests/fixtures/data where the stand-in and the watcher
# read it (/app/tests/fixtures/data, the settings' defaults relative to /app).
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home app
WORKDIR /app
COPY --from=build --chown=root:root /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HORDE_HTTP_PORT=8080 \
    HORDE_OPS_PORT=8081
USER 10001:10001
# 8080: the gateway's API; 8081: /healthz, /readyz, /metrics of every service (HORDE_OPS_PORT).
EXPOSE 8080 8081
# No curl in slim images: probe /healthz on the ops port with the interpreter we ship.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % (int(os.environ.get('HORDE_OPS_PORT') or 0) or os.environ.get('HORDE_HTTP_PORT', '8080')), timeout=4)"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "services.gateway"]

# --- one target per service: the same image with that service's default command ---------------
FROM runtime AS poller
CMD ["python", "-m", "services.poller"]

FROM runtime AS reference_watcher
CMD ["python", "-m", "services.reference_watcher"]

FROM runtime AS analytics
CMD ["python", "-m", "services.analytics"]

# Development only: the AI Horde stand-in for offline Compose runs. The development package
# (devtools/) is copied into this target alone; the production targets never contain it.
FROM runtime AS horde_standin
COPY --chown=root:root devtools ./devtools
CMD ["python", "-m", "devtools.horde_standin"]

FROM runtime AS gateway
CMD ["python", "-m", "services.gateway"]

# --- default target: the service named by the build argument ----------------------------------
FROM ${SERVICE} AS service
