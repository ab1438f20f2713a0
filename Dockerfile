# syntax=docker/dockerfile:1
# PhotoSurvey service image. Production points it at MongoDB with PHOTOSURVEY_MONGODB_URI
# (see compose.yaml); the embedded database is not installed here.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/venv
RUN pip install --no-cache-dir "uv==0.13.9"
WORKDIR /src
# Dependencies first, from the lock, so that code changes reuse this layer.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY api ./api
COPY inference ./inference
COPY models ./models
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11-slim AS runtime
RUN useradd --system --uid 10001 --home-dir /srv/photosurvey --create-home photosurvey
COPY --from=build /opt/venv /opt/venv
COPY --from=build /src/models /srv/photosurvey/models
# Settings come from the environment, as everywhere (README, "Configuration"): override
# them with `docker run -e` or compose's `environment`. PHOTOSURVEY_SECRET_KEY has no default:
# production refuses to start without it, in one line naming it.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PHOTOSURVEY_ENV=production \
    PHOTOSURVEY_HOST=0.0.0.0 \
    PHOTOSURVEY_PORT=8000 \
    PHOTOSURVEY_DATA_DIR=/srv/photosurvey/var
WORKDIR /srv/photosurvey
USER photosurvey
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PHOTOSURVEY_PORT\"]}/healthz', timeout=2)"]
CMD ["photosurvey", "serve"]
