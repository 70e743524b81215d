"""The block-type contract that built-in and third-party block types implement.

A block type is a stateless object; one instance serves every block of its
type in every app. It describes a value from end to end: the config a block
of this type accepts, its GraphQL output, input and filter types, how a
submitted value is checked and normalized into its stored form, and how the
stored form is indexed for search.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol

import jsonschema
from graphql import GraphQLInputType, GraphQLOutputType

from blocks.definition import Block
from blocks.errors import ErrorCode, Path, Problem, ValueProblem
from blocks.filters import FieldPath, FilterNode, Operand
from blocks.types import TypeLibrary, compile_presence_filter, compile_scalar_filter


class BlockRole(StrEnum):
    """How the submission pipeline treats blocks of a type."""

    VALUE = "value"
    """The client submits a value; the block type normalizes it."""
    DISPLAY = "display"
    """Shown to users only; stores nothing (a note)."""
    SECTION = "section"
    """Groups child blocks; the children's values are stored beside it."""
    REPEAT = "repeat"
    """Stores a list of rows, each a mapping of the child blocks' values."""
    COMPUTED = "computed"
    """The server evaluates the value; clients cannot submit it."""
    ASSIGNED = "assigned"
    """The server assigns the value once, at creation (a sequence number)."""


class IndexKind(StrEnum):
    """How a stored value is indexed for search and facets."""

    NONE = "none"
    TEXT = "text"
    KEYWORD = "keyword"
    NUMBER = "number"
    DATE = "date"
    GEO = "geo"
    BOOLEAN = "boolean"


@dataclass(frozen=True)
class FileInfo:
    """A stored file, as a media block's value refers to it."""

    id: str
    filename: str
    content_type: str
    size: int
    sha256: str

    def to_value(self) -> dict[str, Any]:
        """Return the stored form of a reference to this file."""
        return {
            "id": self.id,
            "filename": self.filename,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
        }


class FileAccess(Protocol):
    """Looks up files of the submitting workspace."""

    async def get_file(self, file_id: str) -> FileInfo | None:
        """Return the file with ``file_id`` in this workspace, or None."""


class RecordAccess(Protocol):
    """Looks up records of other apps in the submitting workspace."""

    async def record_exists(self, app_slug: str, record_id: str) -> bool:
        """Return whether app ``app_slug`` of this workspace has the record."""


class SequenceAccess(Protocol):
    """Allocates server-assigned numbers."""

    async def next_number(self, block_id: str, start: int) -> int:
        """Return the next number of the app's sequence for ``block_id``."""


class HttpResponse(Protocol):
    """A fully read HTTP response, after redirects."""

    @property
    def status_code(self) -> int:
        """Return the HTTP status code."""
        ...

    @property
    def content(self) -> bytes:
        """Return the body, decompressed."""
        ...

    @property
    def url(self) -> str:
        """Return the final URL, after redirects."""
        ...


class HttpClient(Protocol):
    """Sends outgoing requests to destinations that users configure.

    The server passes ``workflows.guard.GuardedClient``, which rejects
    requests to loopback, private, link-local and cloud metadata addresses
    unless an operator allows them.
    """

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        timeout: float | None = None,
    ) -> HttpResponse:
        """Send a request and return the response.

        Raises:
            AppgraphError: the request was rejected or failed. The error has a
                ``host`` attribute naming the URL host, and its message gives
                the reason without any header values.
        """
        ...


@dataclass
class ValueContext:
    """What a block type may consult while normalizing one value."""

    workspace_id: str
    app_id: str
    files: FileAccess
    records: RecordAccess
    sequences: SequenceAccess
    language: str = "default"
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    record_id: str | None = None
    http: HttpClient | None = None
    """Client for outgoing requests; None where the server sends none."""
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Named secrets from the server configuration, such as API keys."""


@dataclass(frozen=True)
class ConfigContext:
    """What a block type may consult while checking a block's config."""

    app_slugs: frozenset[str] = frozenset()
    """Slugs of the apps in the same workspace, for lookups."""
    languages: tuple[str, ...] = ()
    block_ids: frozenset[str] = frozenset()


class BlockType:
    """Base class of every block type.

    Subclasses set the class attributes and override the methods whose
    defaults do not fit. The defaults describe a text value.
    """

    name: ClassVar[str]
    """Unique type name used in definitions, such as ``"text"``."""
    label: ClassVar[str]
    """Human name shown in designer front ends."""
    description: ClassVar[str] = ""
    value_type: ClassVar[str] = "String"
    """Name of the GraphQL type of the value, shown in the block catalogue."""
    role: ClassVar[BlockRole] = BlockRole.VALUE
    index_kind: ClassVar[IndexKind] = IndexKind.KEYWORD
    operand: ClassVar[Operand | None] = Operand.TEXT
    """How values compare in filters and ordering; None when they do not."""
    xlsform_types: ClassVar[tuple[str, ...]] = ()
    """XLSForm question types that import as this block type."""
    config_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }
    """JSON Schema (draft 2020-12) of ``Block.config``."""

    # Definition time -------------------------------------------------------

    def validate_config(self, block: Block, context: ConfigContext) -> list[Problem]:
        """Check ``block.config``; return problems with paths inside the config.

        The default checks the config against :attr:`config_schema`. Override
        to add checks the schema cannot express, and call this first.
        """
        validator = jsonschema.Draft202012Validator(self.config_schema)
        problems = []
        for error in sorted(validator.iter_errors(block.config), key=str):
            location = tuple(error.absolute_path)
            problems.append(
                Problem(
                    location,
                    ErrorCode.INVALID_CONFIG,
                    f"Invalid config for a {self.name} block: {error.message}.",
                )
            )
        return problems

    def config_expressions(self, block: Block) -> Mapping[str, str]:
        """Return expressions inside the config, by config key.

        The definition validator parses them and checks their references.
        """
        return {}

    # GraphQL ---------------------------------------------------------------

    def output_type(self, block: Block, types: TypeLibrary) -> GraphQLOutputType:
        """Return the GraphQL type of the value in query results."""
        from graphql import GraphQLString

        return GraphQLString

    def input_type(self, block: Block, types: TypeLibrary) -> GraphQLInputType | None:
        """Return the GraphQL type of the value in create and update inputs.

        None means clients cannot submit it.
        """
        from graphql import GraphQLString

        return GraphQLString

    def filter_type(self, block: Block, types: TypeLibrary) -> GraphQLInputType | None:
        """Return the GraphQL input type filtering on this value, or None."""
        if self.operand is None:
            return types.presence_filter()
        return types.scalar_filter(self.operand)

    def compile_filter(
        self, block: Block, path: FieldPath, conditions: Mapping[str, Any]
    ) -> FilterNode:
        """Compile a value of :meth:`filter_type` into a filter node."""
        if self.operand is None:
            return compile_presence_filter(path, conditions)
        return compile_scalar_filter(path, self.operand, conditions)

    def block_operand(self, block: Block) -> Operand | None:
        """Return how values of ``block`` compare when ordering; None if never.

        The default is the class-wide :attr:`operand`; a type whose values
        differ per block (a calculation's result type) overrides it.
        """
        return self.operand

    # Values ----------------------------------------------------------------

    async def normalize(self, block: Block, value: Any, context: ValueContext) -> Any:
        """Check a submitted non-null value and return its stored form.

        The stored form must be JSON data (str, int, bool, None, lists and
        mappings of those); exact decimals are stored as strings.

        Raises:
            ValueProblem: the value is invalid; the message says why and what
                is expected.
        """
        if not isinstance(value, str):
            raise ValueProblem(
                ErrorCode.INVALID_TYPE, f"Expected text, got {type(value).__name__}."
            )
        return value

    def is_empty(self, stored: Any) -> bool:
        """Return whether a stored value counts as missing for ``required``."""
        return stored is None or stored == "" or stored == [] or stored == {}

    def to_output(self, block: Block, stored: Any) -> Any:
        """Return the GraphQL result value for a stored value."""
        return stored

    def to_expression(self, block: Block, stored: Any) -> Any:
        """Return the value expressions see for a stored value."""
        return stored

    def index_value(self, block: Block, stored: Any) -> Any:
        """Return the value given to the search index for a stored value."""
        return stored

    # Server-side values ----------------------------------------------------

    async def assign(self, block: Block, context: ValueContext) -> Any:
        """Return the stored value of an ``ASSIGNED`` block at creation."""
        raise NotImplementedError(f"Block type {self.name!r} assigns no value.")

    @property
    def has_custom_output(self) -> bool:
        """Return whether :meth:`to_output` differs from the identity."""
        return type(self).to_output is not BlockType.to_output


def text_of(texts: Mapping[str, str], language: str) -> str:
    """Return the text in ``language``, or the first text there is."""
    if language in texts:
        return texts[language]
    if "default" in texts:
        return texts["default"]
    return next(iter(texts.values()), "")


def problems_at(prefix: Path, problems: Sequence[Problem]) -> list[Problem]:
    """Return ``problems`` with ``prefix`` put before each path."""
    return [p.with_prefix(prefix) for p in problems]
