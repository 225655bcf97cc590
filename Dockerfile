# syntax=docker/dockerfile:1
# The router. Two stages: the first builds our wheel and the wheels of the runtime dependencies
# only (none of the devnet/embedded/dev extras); the second installs them into a slim image and
# runs as an unprivileged user. The devnet's code is in the same wheel and imported only by
# `dydx-router devnet` (compose's devnet profile runs that command from this image: its modules
# are all runtime dependencies; pyproject.toml, [devnet]).
# Checked statically by tests/router/unit/test_deploy_files.py (no Docker engine runs in CI).
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE} AS runtime
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DYDX_ROUTER_HOST=0.0.0.0 \
    DYDX_ROUTER_PORT=8080 \
    DYDX_ROUTER_LOG_FORMAT=json \
    DYDX_ROUTER_SHUTDOWN_GRACE_S=30
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m pip install --no-index --find-links=/wheels dydx-router \
    && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin router
USER 10001:10001
EXPOSE 8080
# uvicorn drains in-flight requests on SIGTERM for DYDX_ROUTER_SHUTDOWN_GRACE_S; the
# orchestrator's grace period (compose stop_grace_period, Kubernetes
# terminationGracePeriodSeconds) must be longer, or the drain is cut by SIGKILL.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('DYDX_ROUTER_PORT', '8080'), timeout=2)"]
ENTRYPOINT ["dydx-router"]
CMD ["serve"]
