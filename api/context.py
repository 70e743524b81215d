"""What every resolver receives: the caller, the services, the request's files."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from graphql import GraphQLSchema

if TYPE_CHECKING:
    from api.operations import Operations
    from api.services import Services
    from store import ApiToken


@dataclass(frozen=True)
class Caller:
    """The authenticated caller: a token's workspace, user and role."""

    token: ApiToken

    @property
    def workspace_id(self) -> str:
        """Return the workspace the token is scoped to."""
        return self.token.workspace_id

    @property
    def user_id(self) -> str:
        """Return the user the token acts for."""
        return self.token.user_id

    @property
    def is_admin(self) -> bool:
        """Return whether the token has the admin role."""
        return str(self.token.role) == "admin"


@dataclass
class RequestContext:
    """The GraphQL context value of one operation."""

    caller: Caller
    services: Services
    operations: Operations
    uploads: Mapping[str, Any] = field(default_factory=dict)
    """Multipart file parts by their map key, for the operation's variables."""


class SchemaProvider(Protocol):
    """Returns the current GraphQL schema a caller may see."""

    def schema_for(self, caller: Caller) -> GraphQLSchema:
        """Return the schema of the caller's workspace, built ahead of time."""


Authenticator = Callable[[str | None], Awaitable[Caller | None]]
"""Resolves a bearer token, or None if the request has none, to its caller.

Returns None when the token is missing, unknown, expired or revoked.
"""

ContextFactory = Callable[[Caller, Mapping[str, Any]], Awaitable[RequestContext]]
"""Builds the context of one operation from its caller and uploaded files."""
