"""The application factory and its lifespan.

Run it with ``uvicorn --factory api.app:create_app`` or ``photosurvey serve``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import overload

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError, OperationDefinitionNode
from pymongo.errors import ConnectionFailure, PyMongoError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.websockets import WebSocket
from strawberry import UNSET
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult
from strawberry.types.execution import SubscriptionExecutionResult

from api.auth import store as auth_store
from api.auth.demo import demo_banner, issue_demo_tokens
from api.connection import open_connection
from api.context import Context
from api.database import (
    READY_TIMEOUT_SECONDS,
    CollectionIndexes,
    Database,
    ensure_indexes,
    is_ready,
)
from api.documents import MAX_QUERY_CHARACTERS, parse_document
from api.embedded import EmbeddedDatabaseError
from api.errors import DatabaseUnavailable
from api.graphiql import graphiql_page, graphiql_routes
from api.limits import BodySizeLimitMiddleware, read_json
from api.logs import configure_logging
from api.middleware import RequestIdMiddleware
from api.models import store as model_store
from api.multipart import read_multipart
from api.photos import files as photo_files
from api.photos import store as photo_store
from api.photos.routes import photo_routes
from api.photos.samples import first_run_samples
from api.photos.signing import secret_key_for
from api.prelabel import store as prelabel_store
from api.prelabel.labeller import Labeller, load_labeller
from api.prelabel.worker import Prelabeller, run_prelabel_worker
from api.schema import build_schema
from api.settings import Settings
from api.supervisor import DatabaseStatus, DatabaseSupervisor
from api.survey import store as survey_store
from api.survey.aggregating import ConsensusConfig
from api.survey.background import run_lease_reaper
from api.survey.loaders import SurveyLoaders
from api.survey.reestimation import run_reestimation
from api.survey.selection import Policy
from api.unavailable import (
    HTTP_STATUS,
    RETRY_HEADERS,
    is_unavailable,
    unavailable_error,
    unavailable_response,
)

logger = logging.getLogger(__name__)

# Every collection's indexes, ensured at start-up. Each domain store contributes its own.
INDEXES: tuple[CollectionIndexes, ...] = (
    auth_store.INDEXES,
    *survey_store.INDEXES,
    photo_store.INDEXES,
    *photo_files.INDEXES,
    prelabel_store.INDEXES,
    model_store.INDEXES,
)


@dataclass
class Runtime:
    """What the lifespan opens and the routes use; one per app instance."""

    settings: Settings
    policy: Policy
    consensus: ConsensusConfig
    rng: random.Random
    labeller: Labeller | None  # the pre-label worker's model; None with the worker off
    _db: Database | None = field(default=None, repr=False)
    _supervisor: DatabaseSupervisor | None = field(default=None, repr=False)

    @property
    def db(self) -> Database:
        if self._db is None:
            raise RuntimeError("the database is used before the app has started")
        return self._db

    def database_status(self) -> DatabaseStatus | None:
        """The embedded database's, as its supervisor knows it; None with MongoDB by URI."""
        return None if self._supervisor is None else self._supervisor.status()

    def available_db(self) -> Database:
        """The database; `DatabaseUnavailable` at once while the supervisor knows it is down,
        instead of a request waiting for the driver's server-selection timeout."""
        unavailable = unavailable_error(self.database_status())
        if unavailable is not None:
            raise unavailable
        return self.db


class PhotoSurveyGraphQL(GraphQL[Context, None]):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__(
            build_schema(introspection=runtime.settings.allows_introspection),
            graphql_ide="graphiql" if runtime.settings.is_dev else None,
            # addPhoto (GraphQL multipart request); the body size is capped by a middleware.
            multipart_uploads_enabled=True,
        )
        self.runtime = runtime

    @overload
    async def run(
        self, request: Request, context: Context = UNSET, root_value: None = UNSET
    ) -> Response: ...

    @overload
    async def run(
        self, request: WebSocket, context: Context = UNSET, root_value: None = UNSET
    ) -> WebSocket: ...

    async def run(
        self, request: Request | WebSocket, context: Context = UNSET, root_value: None = UNSET
    ) -> Response | WebSocket:
        # The one place uploads are closed: strawberry never closes the multipart files it
        # parsed, whether addPhoto read them or the request was refused (bad `operations`
        # or `map`); closing the request's form closes them.
        try:
            return await super().run(request, context, root_value)
        finally:
            if isinstance(request, Request):
                await request.close()

    async def execute_operation(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: Context,
        root_value: None,
        sub_response: Response,
    ) -> ExecutionResult | list[ExecutionResult] | SubscriptionExecutionResult:
        # Known down: fail at once, not after the driver's server-selection timeout.
        unavailable = unavailable_error(self.runtime.database_status())
        if unavailable is None:
            result = await super().execute_operation(
                request, request_adapter, request_data, context, root_value, sub_response
            )
        else:
            result = ExecutionResult(data=None, errors=[unavailable])
        results = result if isinstance(result, list) else [result]
        if any(isinstance(r, ExecutionResult) and is_unavailable(r.errors) for r in results):
            sub_response.status_code = HTTP_STATUS
            sub_response.headers.update(RETRY_HEADERS)
        return result

    async def render_graphql_ide(self, request: Request) -> Response:
        # Our page, not strawberry's: it loads GraphiQL from this service, not from a CDN.
        return graphiql_page()

    def decode_json(self, data: str | bytes) -> object:
        # strawberry turns only a JSONDecodeError into a 400 (`read_json` says more).
        return read_json(data, what="the request")

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        # A JSON body that is not an object (`null`, a string, a number) reaches strawberry's
        # `data.get(...)`, which would be a 500.
        try:
            data = await super().parse_http_body(request)
        except AttributeError as exc:
            raise HTTPException(
                400,
                "the request body must be a JSON object with `query` (and optionally "
                "`variables` and `operationName`)",
            ) from exc
        if isinstance(data, GraphQLRequestData) and data.query is not None:
            _check_document(data.query, operation_name=data.operation_name)
        return data

    async def parse_multipart(self, request: AsyncHTTPRequestAdapter) -> dict[str, str]:
        try:
            form_data = await request.get_form_data()
        except ValueError as exc:
            raise HTTPException(400, "Unable to parse the multipart body") from exc
        return read_multipart(form_data.form, form_data.files)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        return Context(
            request=request,
            response=response if isinstance(response, Response) else None,
            settings=self.runtime.settings,
            db=self.runtime.db,
            policy=self.runtime.policy,
            consensus=self.runtime.consensus,
            rng=self.runtime.rng,
            loaders=SurveyLoaders.for_request(self.runtime.db),
        )


def _check_document(query: str, *, operation_name: str | None) -> None:
    """Refuse, before parsing, a query longer than any client operation (it would also fill
    the parser's and validator's caches, keyed by the query), and, as the GraphQL spec asks,
    a document of several operations when the request names none (strawberry would run the
    first)."""
    if len(query) > MAX_QUERY_CHARACTERS:
        raise HTTPException(
            400,
            f"the query is {len(query):,} characters; at most {MAX_QUERY_CHARACTERS:,} "
            "(send long values as variables)",
        )
    names = _operation_names(query) if operation_name is None else ()
    if len(names) > 1 and None not in names and len(set(names)) == len(names):
        raise HTTPException(
            400,
            f"the document has {len(names)} operations ({', '.join(map(str, names))}): "
            "name the one to run in `operationName`",
        )


def _operation_names(query: str) -> tuple[str | None, ...]:
    """The names of the document's operations (None for an anonymous one); none when it does
    not parse. Validation reports an anonymous operation among others, and two of one name."""
    try:
        document = parse_document(query)  # cached: strawberry's parsing step reads it
    except GraphQLError:
        return ()  # strawberry reports why
    return tuple(
        node.name.value if node.name else None
        for node in document.definitions
        if isinstance(node, OperationDefinitionNode)
    )


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the service; with no `settings`, read them from the environment. Bad settings
    (`SettingsError`, a short key in the dev key file among them) and, with the pre-label
    worker on, a bad model file (`InferenceError`) fail here, before anything is served."""
    settings = Settings.from_environ() if settings is None else settings
    settings.check_can_serve()
    secret_key_for(settings)  # read (in dev, made) now: a bad key file stops the start
    configure_logging(settings.log_level)
    runtime = Runtime(
        settings,
        policy=Policy.from_settings(settings),
        consensus=ConsensusConfig.from_settings(settings),
        rng=random.Random(settings.random_seed),
        labeller=load_labeller(settings) if settings.prelabel_worker else None,
    )

    async def healthz(request: Request) -> Response:
        return _health(runtime.database_status())

    async def readyz(request: Request) -> Response:
        unavailable = unavailable_error(runtime.database_status())
        if unavailable is None and await is_ready(runtime.db):
            return JSONResponse({"status": "ready"})
        reason = (
            f"no answer to ping within {READY_TIMEOUT_SECONDS:g} s"
            if unavailable is None
            else unavailable.message
        )
        return JSONResponse({"status": "database unavailable", "reason": reason}, status_code=503)

    app = Starlette(
        routes=[
            # A Route, not a Mount: a Mount answers POST /graphql with a 307 redirect.
            Route("/graphql", PhotoSurveyGraphQL(runtime)),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            *photo_routes(settings=settings, database=runtime.available_db),
            *(graphiql_routes() if settings.is_dev else []),
        ],
        exception_handlers={
            DatabaseUnavailable: unavailable_response,
            ConnectionFailure: unavailable_response,
        },
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(BodySizeLimitMiddleware, max_upload_bytes=settings.max_upload_bytes),
        ],
        lifespan=lambda app: _lifespan(app, runtime),
    )
    # Set when the database will not open at start-up: `photosurvey serve` reports it.
    app.state.startup_error = None
    return app


def _health(status: DatabaseStatus | None) -> Response:
    """``/healthz``: the process answers; with the embedded database, 503 while it is down
    (restarting or given up), as the service cannot do its work."""
    if status is None:
        return JSONResponse({"status": "ok"})
    database: dict[str, object] = {"state": status.state.value, "restarts": status.restarts}
    if status.detail is not None:
        database["detail"] = status.detail
    return JSONResponse(
        {"status": "ok" if status.running else "database down", "database": database},
        status_code=200 if status.running else 503,
    )


@asynccontextmanager
async def _lifespan(app: Starlette, runtime: Runtime) -> AsyncIterator[None]:
    settings = runtime.settings
    async with AsyncExitStack() as stack:
        try:
            connection = await stack.enter_async_context(open_connection(settings))
            runtime._db, runtime._supervisor = connection.db, connection.supervisor
            await ensure_indexes(runtime.db, INDEXES)
            await prelabel_store.start_counts(runtime.db)
            await survey_store.start_counts(runtime.db)
        except (EmbeddedDatabaseError, PyMongoError) as exc:
            app.state.startup_error = exc
            raise
        if settings.is_dev:
            tokens = await issue_demo_tokens(runtime.db)
            url = f"http://{settings.host}:{settings.port}/graphql"
            print(demo_banner(tokens, graphql_url=url), flush=True)
        # Not with an explicit MongoDB URI (as in tests): samples would join every pool.
        if settings.is_dev and settings.uses_embedded_database:
            message = await first_run_samples(runtime.db)
            if message is not None:
                print(message, flush=True)
        await stack.enter_async_context(run_lease_reaper(runtime.db))
        await stack.enter_async_context(run_reestimation(runtime.db, runtime.consensus))
        if runtime.labeller is not None:
            prelabeller = Prelabeller.from_settings(runtime.db, runtime.labeller, settings)
            await stack.enter_async_context(run_prelabel_worker(prelabeller))
        logger.info("service started", extra={"env": settings.env, "db": settings.db_name})
        yield
        logger.info("service stopping")
