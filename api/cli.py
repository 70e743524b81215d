"""The ``appgraph`` command: serve, worker, workspaces, tokens, XLSForm import."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from api.settings import Settings

if TYPE_CHECKING:
    from store import ApiToken

logger = logging.getLogger("appgraph")

DEMO_WORKSPACE = "demo"
DEMO_FORM = Path(__file__).resolve().parent / "demo" / "UCL_Biomass_Plot_Form.xlsx"


def _runtime(data_dir: str | None) -> object:
    from api.app import Runtime

    return Runtime(_settings(data_dir))


def _settings(data_dir: str | None) -> Settings:
    settings = Settings.from_env()
    if data_dir:
        settings = dataclasses.replace(settings, data_dir=Path(data_dir))
    return settings


async def _create_workspace(data_dir: str | None, slug: str, name: str) -> str:
    from api.app import Runtime

    runtime = _runtime(data_dir)
    assert isinstance(runtime, Runtime)
    await runtime.store.open()
    try:
        workspace = await runtime.store.create_workspace(slug, name)
        return workspace.id
    finally:
        await runtime.store.close()


async def _create_token(
    data_dir: str | None, workspace_slug: str, role: str, user: str, label: str
) -> str:
    from api.app import Runtime
    from store import Role

    runtime = _runtime(data_dir)
    assert isinstance(runtime, Runtime)
    await runtime.store.open()
    try:
        workspace = await runtime.store.get_workspace_by_slug(workspace_slug)
        if workspace is None:
            raise SystemExit(
                f"No workspace {workspace_slug!r}; create it with "
                f"`appgraph workspace create {workspace_slug} NAME`."
            )
        token, _ = await runtime.store.create_token(
            workspace.id, Role(role), user, label
        )
        return token
    finally:
        await runtime.store.close()


async def _import(
    data_dir: str | None, workspace_slug: str, path: Path, slug: str | None
) -> int:
    from api.app import Runtime
    from api.context import Caller
    from blocks.errors import AppgraphError, ProblemsError
    from blocks.xlsform import import_xlsform

    runtime = _runtime(data_dir)
    assert isinstance(runtime, Runtime)
    await runtime.start(workflows=False)
    try:
        workspace = await runtime.store.get_workspace_by_slug(workspace_slug)
        if workspace is None:
            raise SystemExit(f"No workspace {workspace_slug!r}.")
        result = import_xlsform(path.read_bytes(), path.name)
        for issue in result.issues:
            where = f"{issue.sheet} row {issue.row}" if issue.row else issue.sheet
            column = f", column {issue.column}" if issue.column else ""
            print(f"{issue.severity}: {where}{column}: {issue.message}")
        caller = Caller(_cli_token(workspace.id))
        try:
            app, version = await runtime.services.create_app(
                caller,
                slug=slug or result.slug_hint,
                name=result.title,
                description=f"Imported from {path.name}",
                definition_data=result.definition,
                shared_with_members=True,
            )
        except ProblemsError as error:
            for problem in error.problems:
                print(f"error: {'.'.join(map(str, problem.path))}: {problem.message}")
            return 1
        except AppgraphError as error:
            print(f"error: {error}")
            return 1
        print(f"Imported {path.name} as app {app.slug!r} (version {version.number}).")
        return 0
    finally:
        await runtime.stop()


def _cli_token(workspace_id: str) -> ApiToken:
    """Return an in-memory admin token for commands run on the server host."""
    from datetime import UTC, datetime

    from store import ApiToken, Role

    return ApiToken(
        id="cli",
        workspace_id=workspace_id,
        user_id="cli",
        role=Role.ADMIN,
        label="command line",
        created_at=datetime.now(UTC),
    )


async def prepare_demo(settings: Settings) -> str:
    """Create the demo workspace, import the demo form once, return a token."""
    from api.app import Runtime
    from api.context import Caller
    from blocks.xlsform import import_xlsform
    from store import Role

    runtime = Runtime(settings)
    await runtime.start(workflows=False)
    try:
        workspace = await runtime.store.get_workspace_by_slug(DEMO_WORKSPACE)
        if workspace is None:
            workspace = await runtime.store.create_workspace(DEMO_WORKSPACE, "Demo")
            await runtime.services.refresh_schema(workspace.id)
        result = import_xlsform(DEMO_FORM.read_bytes(), DEMO_FORM.name)
        existing = await runtime.store.get_app_by_slug(workspace.id, result.slug_hint)
        if existing is None:
            caller = Caller(_cli_token(workspace.id))
            await runtime.services.create_app(
                caller,
                slug=result.slug_hint,
                name=result.title,
                description="Forest biomass plot survey, imported from XLSForm.",
                definition_data=result.definition,
                shared_with_members=True,
            )
        token, _ = await runtime.store.create_token(
            workspace.id, Role.ADMIN, "admin", "make run"
        )
        return token
    finally:
        await runtime.stop()


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    settings = _settings(args.data_dir)
    if args.dev:
        settings = dataclasses.replace(settings, development=True)
    if args.demo:
        token = asyncio.run(prepare_demo(settings))
        print(f"GraphiQL: http://{args.host}:{args.port}/graphql")
        print(f"Admin token (header `Authorization: Bearer <token>`): {token}")
        sys.stdout.flush()
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        # INFO in development too, because at DEBUG uvicorn logs the headers of
        # WebSocket upgrade requests, and those can carry bearer tokens.
        log_level="info",
        ws="websockets-sansio",
        # permessage-deflate keeps a compression context per socket (about
        # 40 KB each, measured by bench/memory.py), while subscription
        # messages are small JSON that gains little from compression.
        ws_per_message_deflate=False,
    )
    return 0


def _worker(args: argparse.Namespace) -> int:
    from workflows import run_worker

    settings = _settings(args.data_dir)
    redis_url = args.redis_url or settings.redis_url
    if not redis_url:
        print(
            "error: appgraph worker needs a Redis URL. Set APPGRAPH_REDIS_URL "
            "(such as redis://127.0.0.1:6379/0) for both `appgraph serve` and "
            "`appgraph worker`, or pass --redis-url.",
            file=sys.stderr,
        )
        return 2
    if not settings.database_path.exists():
        print(
            f"error: no database at {settings.database_path}; start `appgraph "
            f"serve` with the same --data-dir first.",
            file=sys.stderr,
        )
        return 2
    run_worker(
        redis_url,
        settings.database_path,
        settings=dataclasses.replace(settings.workflow, redis_url=redis_url),
        worker_threads=args.threads,
        plugins=args.plugin,
        resources=settings.step_resources(),
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``appgraph`` command."""
    parser = argparse.ArgumentParser(prog="appgraph", description=__doc__)
    parser.add_argument(
        "--data-dir", help="Directory of the database and files (default ./data)."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="Run the GraphQL server.")
    serve.add_argument("--host", default="127.0.0.1", help="Interface to bind.")
    serve.add_argument("--port", type=int, default=8000, help="TCP port.")
    serve.add_argument("--dev", action="store_true", help="Serve GraphiQL.")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="Create the demo workspace and form if missing; print a token.",
    )

    worker = commands.add_parser(
        "worker",
        help="Execute workflow runs from Redis (needs APPGRAPH_REDIS_URL).",
    )
    worker.add_argument(
        "--redis-url", help="Redis URL of the queue (default APPGRAPH_REDIS_URL)."
    )
    worker.add_argument(
        "--threads",
        type=int,
        help="Worker threads (default APPGRAPH_WORKFLOW_WORKER_THREADS, or 4).",
    )
    worker.add_argument(
        "--plugin",
        action="append",
        default=[],
        help="Module to register as a plugin besides the installed ones; repeat "
        "for several.",
    )

    workspace = commands.add_parser("workspace", help="Manage workspaces.")
    workspace_commands = workspace.add_subparsers(dest="action", required=True)
    create_ws = workspace_commands.add_parser("create", help="Create a workspace.")
    create_ws.add_argument("slug", help="URL-safe name.")
    create_ws.add_argument("name", help="Display name.")

    token = commands.add_parser("token", help="Manage API tokens.")
    token_commands = token.add_subparsers(dest="action", required=True)
    create_token = token_commands.add_parser("create", help="Create a token.")
    create_token.add_argument("--workspace", required=True, help="Workspace slug.")
    create_token.add_argument(
        "--role", choices=["admin", "member"], default="member", help="Token role."
    )
    create_token.add_argument("--user", required=True, help="User id to act as.")
    create_token.add_argument("--label", default="", help="Note for admins.")

    importer = commands.add_parser(
        "import-xlsform", help="Import an XLSForm as an app."
    )
    importer.add_argument("file", type=Path, help=".xlsx or .xls file.")
    importer.add_argument("--workspace", required=True, help="Workspace slug.")
    importer.add_argument("--slug", help="App slug (default: the form id).")

    commands.add_parser("schema", help="Print the SDL of the static schema.")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``appgraph`` command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        Settings.from_env()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return _serve(args)
    if args.command == "worker":
        return _worker(args)
    if args.command == "workspace":
        workspace_id = asyncio.run(
            _create_workspace(args.data_dir, args.slug, args.name)
        )
        print(f"Created workspace {args.slug!r} ({workspace_id}).")
        return 0
    if args.command == "token":
        token = asyncio.run(
            _create_token(
                args.data_dir, args.workspace, args.role, args.user, args.label
            )
        )
        print(token)
        return 0
    if args.command == "import-xlsform":
        return asyncio.run(_import(args.data_dir, args.workspace, args.file, args.slug))
    if args.command == "schema":
        from api.schema.static import build_static_schema

        print(build_static_schema().as_str())
        return 0
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
