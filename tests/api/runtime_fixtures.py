"""A real Runtime served through Starlette's TestClient, for integration tests.

One :class:`Served` wraps the application of a temporary data directory. Tests
share one per module and keep apart by creating their own workspace with
:meth:`Served.workspace`, so they never depend on each other's data.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient, WebSocketTestSession

from api.app import Runtime, create_app
from api.limits import Limits
from api.settings import Settings
from store import Role

SUBPROTOCOL = "graphql-transport-ws"
MAX_PAGE_SIZE = 5
MAX_FILE_BYTES = 4096

APP_CREATE = """
mutation($input: AppCreateInput!) {
  appCreate(input: $input) {
    app { id slug currentVersion typeName fieldName sharedWithMembers }
    version { number author note definition }
    errors { path code message }
  }
}
"""

DEFINITION_SAVE = """
mutation($input: AppDefinitionSaveInput!) {
  appDefinitionSave(input: $input) {
    app { currentVersion typeName }
    version { number author note definition }
    errors { path code message }
  }
}
"""

_counter = itertools.count(1)


def unique(prefix: str) -> str:
    """Return a slug that no other test of the process uses."""
    return f"{prefix}-{next(_counter)}"


@dataclass
class Workspace:
    """A workspace created for one test, with an admin token."""

    served: Served
    id: str
    slug: str
    admin: str

    def token(self, role: Role, user: str) -> str:
        """Create a token of this workspace for ``user``."""
        return self.served.token(self.id, role, user)

    def create_app(
        self,
        slug: str,
        definition: Mapping[str, Any],
        *,
        shared: bool = False,
        token: str | None = None,
    ) -> dict[str, Any]:
        """Create an app through GraphQL and return the ``appCreate`` payload."""
        payload = self.served.data(
            token or self.admin,
            APP_CREATE,
            {
                "input": {
                    "slug": slug,
                    "name": slug.title(),
                    "definition": dict(definition),
                    "sharedWithMembers": shared,
                }
            },
        )["appCreate"]
        assert isinstance(payload, dict)
        return payload

    def save_definition(
        self, slug: str, definition: Mapping[str, Any], note: str = ""
    ) -> dict[str, Any]:
        """Save a new version through GraphQL and return the payload."""
        payload = self.served.data(
            self.admin,
            DEFINITION_SAVE,
            {"input": {"app": slug, "definition": dict(definition), "note": note}},
        )["appDefinitionSave"]
        assert isinstance(payload, dict)
        return payload


class Served:
    """The application of a real Runtime, entered in a TestClient."""

    def __init__(self, client: TestClient, runtime: Runtime) -> None:
        self.client = client
        self.runtime = runtime

    def workspace(self, prefix: str = "ws") -> Workspace:
        """Create a workspace with an admin token of user ``admin``."""
        slug = unique(prefix)

        async def create() -> str:
            workspace = await self.runtime.store.create_workspace(slug, slug.title())
            return workspace.id

        workspace_id = self.client.portal.call(create)  # type: ignore[union-attr]
        admin = self.token(workspace_id, Role.ADMIN, "admin")
        return Workspace(self, workspace_id, slug, admin)

    def token(self, workspace_id: str, role: Role, user: str) -> str:
        """Create a token in the store and return its plaintext."""

        async def create() -> str:
            token, _ = await self.runtime.store.create_token(
                workspace_id, role, user, "test"
            )
            return token

        return self.client.portal.call(create)  # type: ignore[union-attr]

    def post(
        self,
        token: str,
        query: str,
        variables: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Run one operation over HTTP and return the whole response body."""
        response = self.client.post(
            "/graphql",
            json={"query": query, "variables": dict(variables or {})},
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
            },
        )
        body = response.json()
        assert isinstance(body, dict), body
        return body

    def data(
        self,
        token: str,
        query: str,
        variables: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Run one operation and return ``data``, failing on any GraphQL error."""
        body = self.post(token, query, variables)
        assert "errors" not in body, body["errors"]
        data = body["data"]
        assert isinstance(data, dict)
        return data

    def errors(
        self,
        token: str,
        query: str,
        variables: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """Run one operation and return its GraphQL error messages."""
        body = self.post(token, query, variables)
        assert "errors" in body, body
        return [str(error["message"]) for error in body["errors"]]

    def upload(
        self,
        token: str | None,
        query: str,
        variables: Mapping[str, Any],
        files: Mapping[str, tuple[str, bytes, str]],
        *,
        preflight: bool = True,
    ) -> tuple[int, dict[str, Any]]:
        """Send a GraphQL multipart request and return status and body.

        ``files`` maps a variable path such as ``variables.data.photo.upload``
        to a (filename, bytes, content type) part.
        """
        keys = {str(index): path for index, path in enumerate(files)}
        parts = {key: files[path] for key, path in keys.items()}
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if preflight:
            headers["GraphQL-Preflight"] = "1"
        response = self.client.post(
            "/graphql",
            data={
                "operations": json.dumps(
                    {"query": query, "variables": dict(variables)}
                ),
                "map": json.dumps({key: [path] for key, path in keys.items()}),
            },
            files=parts,
            headers=headers,
        )
        body = response.json()
        assert isinstance(body, dict), body
        return response.status_code, body

    def socket(self) -> WebSocketTestSession:
        """Open a graphql-transport-ws socket (use it as a context manager)."""
        return self.client.websocket_connect("/graphql", subprotocols=[SUBPROTOCOL])

    def file_count(self) -> int:
        """Return how many file rows the store holds, in every workspace."""

        async def count() -> int:
            store: Any = self.runtime.store
            row = await store._fetch_one("SELECT COUNT(*) FROM files", ())
            return int(row[0])

        return self.client.portal.call(count)  # type: ignore[union-attr]

    def blob_count(self) -> int:
        """Return how many blobs the local blob store holds."""
        directory = self.runtime.blobs.directory
        if not directory.exists():
            return 0
        return sum(1 for path in directory.rglob("*") if path.is_file())


def serve(data_dir: Path) -> Iterator[Served]:
    """Start a Runtime on ``data_dir`` and yield it inside a TestClient."""
    settings = Settings(
        data_dir=data_dir,
        limits=Limits(max_page_size=MAX_PAGE_SIZE),
        max_file_bytes=MAX_FILE_BYTES,
    )
    app = create_app(settings)
    with TestClient(app) as client:
        yield Served(client, app.state.runtime)


def initialise(ws: WebSocketTestSession, token: str) -> None:
    """Send connection_init with ``token`` and expect the ack."""
    ws.send_json({"type": "connection_init", "payload": {"token": token}})
    assert ws.receive_json() == {"type": "connection_ack"}


def subscribe(
    ws: WebSocketTestSession,
    operation_id: str,
    query: str,
    variables: Mapping[str, Any] | None = None,
) -> None:
    """Start a subscription on an initialised socket."""
    ws.send_json(
        {
            "id": operation_id,
            "type": "subscribe",
            "payload": {"query": query, "variables": dict(variables or {})},
        }
    )
