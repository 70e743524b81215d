"""The Starlette application factory."""

from __future__ import annotations

import contextlib
import logging
import unicodedata
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

from graphql import GraphQLSchema
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from api.context import Caller, RequestContext
from api.events import EventBus
from api.http import GraphQLHTTPEndpoint
from api.operations import Operations
from api.schema.manager import SchemaManager
from api.schema.static import build_static_schema
from api.services import Services
from api.settings import Settings
from api.workflows import WorkflowOperations, WorkflowRequestContext
from api.ws import GraphQLWebSocketEndpoint
from blocks.registry import BlockRegistry
from store import LocalBlobStore, OutboxEvent, SQLiteStore, Store
from workflows import WorkflowRuntime
from workflows.steps import StepRegistry

logger = logging.getLogger(__name__)


class Runtime:
    """Everything one process serves with: store, registry, schemas, services.

    It also runs the workflow engine: the trigger dispatcher, schedules and,
    without a Redis URL, an embedded Dramatiq worker on a stub broker. With
    ``settings.redis_url`` the runs go to Redis for ``appgraph worker``
    processes.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        registry: BlockRegistry | None = None,
        steps: StepRegistry | None = None,
    ) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = store or SQLiteStore(settings.database_path)
        self.blobs = LocalBlobStore(settings.files_dir)
        self.registry = registry or BlockRegistry.default()
        self.bus = EventBus()
        self.static = build_static_schema()
        self.operations: Operations
        self.schemas = SchemaManager(
            self.registry,
            self.static,
            lambda app_id, ref: self.operations.typed_resolvers(app_id, ref),
        )
        self.services = Services(
            settings, self.store, self.blobs, self.registry, self.schemas, self.bus
        )
        self.operations = Operations(self.services)

        self.workflows = WorkflowRuntime(
            self.store,
            self.registry,
            settings.workflow,
            steps=steps or StepRegistry.default(),
            resources=settings.step_resources(),
        )
        self.workflow_operations = WorkflowOperations(self.workflows, self.services)
        self._workflows_started = False
        # Record events reach the trigger dispatcher at once instead of at its
        # next poll, so a submission starts its workflows without a delay.
        self.services.dispatcher.handlers.append(self._wake_workflows)

    async def start(self, *, workflows: bool = True, events: bool = True) -> None:
        """Open the store, build schemas and start the event dispatcher.

        With ``workflows`` False the workflow engine stays stopped, for
        short-lived commands. The trigger dispatcher keeps its outbox offset
        in the store, so the next process that runs the engine starts the
        runs that their writes cause.

        With ``events`` False the process builds no schemas and leaves the
        events of its writes in the outbox, so that a server running on the
        same store rebuilds its schemas and publishes the events to its
        subscribers.

        When a step fails, the steps done so far are undone before the error
        propagates: the store's connection threads and the embedded worker's
        threads would otherwise keep the process alive.
        """
        try:
            await self.store.open()
            if events:
                await self.services.start()
            else:
                self.services.dispatcher.disable()
            if workflows:
                self._workflows_started = True
                await self.workflows.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop the workflow engine and the dispatcher, and close the store."""
        if self._workflows_started:
            await self.workflows.stop()
            self._workflows_started = False
        await self.services.stop()
        await self.store.close()

    async def _wake_workflows(self, event: OutboxEvent) -> None:
        if event.kind.startswith("record."):
            self.workflows.wake()

    # Transport hooks -------------------------------------------------------

    async def authenticate(self, token: str | None) -> Caller | None:
        """Return the caller of a bearer token, or None."""
        if not token:
            return None
        api_token = await self.store.authenticate(token)
        if api_token is None:
            return None
        if self.schemas.get(api_token.workspace_id) is None:
            await self.services.refresh_schema(api_token.workspace_id)
        return Caller(api_token)

    def schema_for(self, caller: Caller) -> GraphQLSchema:
        """Return the schema of the caller's workspace and role."""
        schema = self.schemas.get(caller.workspace_id, members=not caller.is_admin)
        if schema is None:
            raise RuntimeError(
                f"No schema was built for workspace {caller.workspace_id}."
            )
        return schema

    async def make_context(
        self, caller: Caller, uploads: Mapping[str, Any]
    ) -> RequestContext:
        """Return the GraphQL context of one operation."""
        return WorkflowRequestContext(
            caller=caller,
            services=self.services,
            operations=self.operations,
            uploads=uploads,
            workflows=self.workflow_operations,
        )


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def create_app(
    settings: Settings | None = None, runtime: Runtime | None = None
) -> Starlette:
    """Create the ASGI application serving GraphQL, files and health checks."""
    settings = settings or Settings.from_env()
    runtime = runtime or Runtime(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        logger.info("appgraph is serving from %s", settings.data_dir)
        try:
            yield
        finally:
            await runtime.stop()

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def download(request: Request) -> Response:
        caller = await runtime.authenticate(_bearer(request))
        if caller is None:
            return JSONResponse(
                {"error": "Send an API token as `Authorization: Bearer <token>`."},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        file_id = request.path_params["file_id"]
        stored = await runtime.store.get_file(caller.workspace_id, file_id)
        if stored is None or (
            not caller.is_admin and stored.created_by != caller.user_id
        ):
            return JSONResponse({"error": f"No file {file_id!r}."}, status_code=404)
        data = await runtime.blobs.open(stored.sha256)
        return Response(
            data,
            media_type=stored.content_type,
            headers={
                "Content-Disposition": _content_disposition(stored.filename),
                "X-Content-Type-Options": "nosniff",
                "ETag": f'"{stored.sha256}"',
            },
        )

    http = GraphQLHTTPEndpoint(
        runtime,
        runtime.authenticate,
        runtime.make_context,
        settings.limits,
        graphiql=settings.development,
    )
    ws = GraphQLWebSocketEndpoint(
        runtime, runtime.authenticate, runtime.make_context, settings.limits
    )
    app = Starlette(
        routes=[
            Route("/graphql", http, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", ws),
            Route("/files/{file_id}", download, methods=["GET"]),
            Route("/healthz", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app


def _content_disposition(filename: str) -> str:
    """Return a ``Content-Disposition`` header that downloads ``filename``.

    Header values should be ASCII: RFC 9110 leaves other bytes opaque, and
    Starlette fails on characters outside Latin-1. A name with other
    characters therefore goes in ``filename*`` as percent-encoded UTF-8
    (RFC 6266 and RFC 5987), after an ASCII ``filename`` for older clients.
    """
    name = _safe_filename(filename)
    fallback = _ascii_filename(name)
    header = f'attachment; filename="{fallback}"'
    if fallback != name:
        header += f"; filename*=UTF-8''{quote(name, safe='')}"
    return header


def _safe_filename(name: str) -> str:
    return "".join(c for c in name if c.isalnum() or c in "._- ")[:200] or "file"


def _ascii_filename(name: str) -> str:
    """Return ``name`` without accents and with ``_`` for other non-ASCII characters."""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(
        c if c.isascii() else "_" for c in decomposed if not unicodedata.combining(c)
    )
