"""The ``appgraph`` command: serve, worker, workspaces, tokens, XLSForm import."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import re
import sqlite3
import sys
import unicodedata
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from api.settings import Settings

if TYPE_CHECKING:
    from api.app import Runtime
    from blocks.xlsform import ImportResult
    from store import ApiToken, Workspace

logger = logging.getLogger("appgraph")

DEMO_WORKSPACE = "demo"
DEMO_FORM = Path(__file__).resolve().parent / "demo" / "UCL_Biomass_Plot_Form.xlsx"


class CommandError(Exception):
    """A failure the user can fix, which ``main`` prints as one ``error:`` line."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


EXIT_USAGE = 2
"""Exit code of invalid arguments and settings, as argparse uses it."""

_OTHER_DATA_DIR = "pass --data-dir or set APPGRAPH_DATA_DIR"


def _settings(data_dir: str | None) -> Settings:
    settings = Settings.from_env()
    if data_dir:
        settings = dataclasses.replace(settings, data_dir=Path(data_dir))
    return settings


def _checked_data_dir(settings: Settings) -> Path:
    """Return the absolute data directory, unless it exists as a file."""
    path = settings.data_dir.absolute()
    if path.exists() and not path.is_dir():
        raise CommandError(
            f"the data directory {path} is not a directory; {_OTHER_DATA_DIR} to "
            "a directory.",
            EXIT_USAGE,
        )
    return path


def _require_database(settings: Settings) -> None:
    """Raise unless the data directory has a database, instead of creating one."""
    path = _checked_data_dir(settings)
    if not settings.database_path.is_file():
        raise CommandError(
            f"no appgraph database in the data directory {path}; {_OTHER_DATA_DIR} "
            "to the directory that `appgraph serve` uses, or create a workspace "
            "here first with `appgraph workspace create SLUG NAME`.",
            EXIT_USAGE,
        )


def _create_runtime(settings: Settings) -> Runtime:
    from api.app import Runtime

    path = _checked_data_dir(settings)
    try:
        return Runtime(settings)
    except OSError as error:
        raise CommandError(
            f"cannot create the data directory {path}: {error.strerror}; "
            f"{_OTHER_DATA_DIR} to a directory this user may write."
        ) from error


@contextlib.asynccontextmanager
async def _open_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """Yield a started runtime that leaves its events for a running server.

    A server on the same data directory dispatches the events of the writes
    made here, so it rebuilds its schemas and publishes the events to its
    subscribers.
    """
    runtime = _create_runtime(settings)
    try:
        await runtime.start(workflows=False, events=False)
    except (sqlite3.Error, OSError) as error:
        raise CommandError(
            f"cannot open the database {settings.database_path.absolute()}: "
            f"{error}; {_OTHER_DATA_DIR} to the data directory of appgraph."
        ) from error
    try:
        yield runtime
    finally:
        await runtime.stop()


async def _find_workspace(runtime: Runtime, slug: str) -> Workspace:
    workspace = await runtime.store.get_workspace_by_slug(slug)
    if workspace is None:
        raise CommandError(
            f"no workspace {slug!r} in the data directory "
            f"{runtime.settings.data_dir.absolute()}; create it with `appgraph "
            f"workspace create {slug} NAME`, or {_OTHER_DATA_DIR} to the "
            "directory that has it."
        )
    return workspace


def _check_workspace_arguments(slug: str, name: str) -> None:
    from blocks.names import SLUG

    if not SLUG.match(slug):
        raise CommandError(
            f"invalid workspace slug {slug!r}: a slug starts with a lowercase "
            "letter a-z, then has up to 62 lowercase letters, digits and '-'; "
            f"use a slug such as {_suggest_slug(slug)!r}.",
            EXIT_USAGE,
        )
    if not name.strip():
        raise CommandError(
            "the workspace name is empty; pass a display name such as "
            f"{slug.replace('-', ' ').title()!r}.",
            EXIT_USAGE,
        )


def _suggest_slug(raw: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if not slug[:1].isalpha():
        slug = "workspace-" + slug
    return slug[:63].rstrip("-")


async def _create_workspace(settings: Settings, slug: str, name: str) -> str:
    from blocks.errors import ConflictError

    _check_workspace_arguments(slug, name)
    async with _open_runtime(settings) as runtime:
        try:
            workspace = await runtime.store.create_workspace(slug, name.strip())
        except ConflictError:
            raise CommandError(
                f"a workspace {slug!r} already exists in the data directory "
                f"{settings.data_dir.absolute()}; choose another slug, or create "
                f"a token for it with `appgraph token create --workspace {slug} "
                "--user USER`."
            ) from None
        return workspace.id


async def _create_token(
    settings: Settings, workspace_slug: str, role: str, user: str, label: str
) -> str:
    from store import Role

    if not user.strip():
        raise CommandError(
            "the user id is empty; pass the id of the user the token acts as, "
            "such as --user ana.",
            EXIT_USAGE,
        )
    _require_database(settings)
    async with _open_runtime(settings) as runtime:
        workspace = await _find_workspace(runtime, workspace_slug)
        token, _ = await runtime.store.create_token(
            workspace.id, Role(role), user, label
        )
        return token


def _read_form(path: Path) -> ImportResult:
    """Read and convert an XLSForm file, printing its import issues."""
    from blocks.xlsform import XLSFormError, import_xlsform

    fix = "pass the path of an XLSForm saved as .xlsx or .xls."
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CommandError(f"no file {str(path)!r}; {fix}") from None
    except IsADirectoryError:
        raise CommandError(f"{str(path)!r} is a directory; {fix}") from None
    except OSError as error:
        raise CommandError(f"cannot read {str(path)!r}: {error.strerror}.") from None
    try:
        result = import_xlsform(data, path.name)
    except XLSFormError as error:
        raise CommandError(str(error)) from None
    for issue in result.issues:
        where = f"{issue.sheet} row {issue.row}" if issue.row else issue.sheet
        column = f", column {issue.column}" if issue.column else ""
        print(f"{issue.severity}: {where}{column}: {issue.message}")
    return result


async def _import(
    settings: Settings, workspace_slug: str, path: Path, slug: str | None
) -> int:
    from api.context import Caller
    from blocks.errors import AppgraphError, ConflictError, ProblemsError
    from blocks.names import check_slug

    slug_problem = check_slug(slug) if slug is not None else None
    if slug_problem:
        raise CommandError(f"invalid --slug: {slug_problem}", EXIT_USAGE)
    result = _read_form(path)
    slug = slug or result.slug_hint
    _require_database(settings)
    async with _open_runtime(settings) as runtime:
        workspace = await _find_workspace(runtime, workspace_slug)
        caller = Caller(_cli_token(workspace.id))
        try:
            app, version = await runtime.services.create_app(
                caller,
                slug=slug,
                name=result.title,
                description=f"Imported from {path.name}",
                definition_data=result.definition,
                shared_with_members=True,
            )
        except ConflictError:
            raise CommandError(
                f"an app with slug {slug!r} already exists in workspace "
                f"{workspace_slug!r}; pass another slug with --slug."
            ) from None
        except ProblemsError as error:
            for problem in error.problems:
                where = ".".join(map(str, problem.path))
                print(f"error: {where}: {problem.message}", file=sys.stderr)
            return 1
        except AppgraphError as error:
            raise CommandError(str(error)) from None
        print(f"Imported {path.name} as app {app.slug!r} (version {version.number}).")
        return 0


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
    from api.context import Caller
    from blocks.xlsform import import_xlsform
    from store import Role

    async with _open_runtime(settings) as runtime:
        workspace = await runtime.store.get_workspace_by_slug(DEMO_WORKSPACE)
        if workspace is None:
            workspace = await runtime.store.create_workspace(DEMO_WORKSPACE, "Demo")
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
    app = create_app(settings, _create_runtime(settings))
    try:
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            # INFO in development too, because at DEBUG uvicorn logs the headers
            # of WebSocket upgrade requests, and those can carry bearer tokens.
            log_level="info",
            ws="websockets-sansio",
            # permessage-deflate keeps a compression context per socket (about
            # 40 KB each, measured by bench/memory.py), while subscription
            # messages are small JSON that gains little from compression.
            ws_per_message_deflate=False,
        )
    except SystemExit as stopped:
        # uvicorn exits when the lifespan startup fails (code 3) or when it
        # cannot bind the port (code 1), after logging the cause.
        if not stopped.code:
            return 0
        raise CommandError(
            f"the server failed to start from the data directory "
            f"{settings.data_dir.absolute()}; the log above shows the cause."
        ) from None
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
    """Run the ``appgraph`` command and return its exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        Settings.from_env()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return _run(args)
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code


def _run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        return _serve(args)
    if args.command == "worker":
        return _worker(args)
    settings = _settings(args.data_dir)
    if args.command == "workspace":
        workspace_id = asyncio.run(_create_workspace(settings, args.slug, args.name))
        print(
            f"Created workspace {args.slug!r} ({workspace_id}) in "
            f"{settings.data_dir.absolute()}."
        )
        return 0
    if args.command == "token":
        token = asyncio.run(
            _create_token(settings, args.workspace, args.role, args.user, args.label)
        )
        print(token)
        return 0
    if args.command == "import-xlsform":
        return asyncio.run(_import(settings, args.workspace, args.file, args.slug))
    if args.command == "schema":
        from api.schema.static import build_static_schema

        print(build_static_schema().as_str())
        return 0
    return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
