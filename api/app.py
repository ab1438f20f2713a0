"""The application factory and its lifespan.

Run it with ``uvicorn --factory api.app:create_app`` or ``photosurvey serve``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from api.context import Context
from api.database import CollectionIndexes, Database, connect, ensure_indexes, is_ready
from api.embedded import EmbeddedDatabase
from api.logs import configure_logging
from api.middleware import RequestIdMiddleware
from api.schema import schema
from api.settings import Settings

logger = logging.getLogger(__name__)

# Every collection's indexes, ensured at start-up. Each domain store contributes its own.
INDEXES: tuple[CollectionIndexes, ...] = ()


@dataclass
class Runtime:
    """What the lifespan opens and the routes use; one per app instance."""

    settings: Settings
    _db: Database | None = field(default=None, repr=False)

    @property
    def db(self) -> Database:
        if self._db is None:
            raise RuntimeError("the database is used before the app has started")
        return self._db


class PhotoSurveyGraphQL(GraphQL[Context, None]):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__(schema, graphql_ide="graphiql" if runtime.settings.is_dev else None)
        self.runtime = runtime

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        return Context(
            request=request,
            response=response if isinstance(response, Response) else None,
            settings=self.runtime.settings,
            db=self.runtime.db,
        )


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the service; with no `settings`, read them from the environment."""
    settings = Settings.from_environ() if settings is None else settings
    configure_logging(settings.log_level)
    runtime = Runtime(settings)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        ready = await is_ready(runtime.db)
        return JSONResponse(
            {"status": "ready" if ready else "database unavailable"},
            status_code=200 if ready else 503,
        )

    return Starlette(
        routes=[
            # A Route, not a Mount: a Mount answers POST /graphql with a 307 redirect.
            Route("/graphql", PhotoSurveyGraphQL(runtime)),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ],
        middleware=[Middleware(RequestIdMiddleware)],
        lifespan=lambda app: _lifespan(runtime),
    )


@asynccontextmanager
async def _lifespan(runtime: Runtime) -> AsyncIterator[None]:
    settings = runtime.settings
    async with AsyncExitStack() as stack:
        uri = settings.mongodb_uri
        if uri is None:
            # Spawned here, on the event loop's (main) thread: the child's parent-death
            # signal is tied to the spawning thread. Waiting may happen elsewhere.
            server = EmbeddedDatabase.start(settings.data_dir / "db")
            stack.callback(server.stop)
            await asyncio.to_thread(server.wait_until_ready)
            uri = server.uri
        client = connect(uri)
        stack.push_async_callback(client.close)
        runtime._db = client[settings.db_name]
        await ensure_indexes(runtime.db, INDEXES)
        logger.info("service started", extra={"env": settings.env, "db": settings.db_name})
        yield
        logger.info("service stopping")
