"""The error tree of appgraph.

Every error raised on purpose derives from :class:`AppgraphError`. Errors
that a client can fix carry :class:`Problem` items: a path to the offending
field, a stable code and a sentence saying what was expected and what to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

Path = tuple[str | int, ...]


class AppgraphError(Exception):
    """Base class of every error appgraph raises on purpose."""


class ErrorCode(StrEnum):
    """Stable codes a client can branch on; the GraphQL enum mirrors them."""

    REQUIRED = "REQUIRED"
    INVALID = "INVALID"
    INVALID_TYPE = "INVALID_TYPE"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    TOO_LONG = "TOO_LONG"
    TOO_SHORT = "TOO_SHORT"
    TOO_MANY = "TOO_MANY"
    TOO_FEW = "TOO_FEW"
    PATTERN_MISMATCH = "PATTERN_MISMATCH"
    UNKNOWN_OPTION = "UNKNOWN_OPTION"
    UNKNOWN_FIELD = "UNKNOWN_FIELD"
    RULE_FAILED = "RULE_FAILED"
    READ_ONLY = "READ_ONLY"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    CONFLICT = "CONFLICT"
    UNKNOWN_BLOCK_TYPE = "UNKNOWN_BLOCK_TYPE"
    DUPLICATE_ID = "DUPLICATE_ID"
    INVALID_CONFIG = "INVALID_CONFIG"
    INVALID_EXPRESSION = "INVALID_EXPRESSION"
    UNKNOWN_REFERENCE = "UNKNOWN_REFERENCE"
    INVALID_NAME = "INVALID_NAME"
    FILE_EMPTY = "FILE_EMPTY"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    CONTENT_TYPE_MISMATCH = "CONTENT_TYPE_MISMATCH"
    UNSUPPORTED = "UNSUPPORTED"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a client's input, located by a path."""

    path: Path
    code: ErrorCode
    message: str

    def with_prefix(self, prefix: Path) -> Problem:
        """Return a copy whose path starts with ``prefix``."""
        return Problem(prefix + self.path, self.code, self.message)


class ProblemsError(AppgraphError):
    """Base class of errors that carry a list of problems."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        lines = "; ".join(
            f"{'.'.join(map(str, p.path)) or '<root>'}: {p.message}" for p in problems
        )
        super().__init__(lines)


class DefinitionError(ProblemsError):
    """An app definition is invalid; nothing was saved."""


class SubmissionError(ProblemsError):
    """Submitted record data is invalid; nothing was saved."""


class ValueProblem(AppgraphError):
    """Raised by a block type when one submitted value is invalid.

    The submission pipeline adds the block's path, so a block type only says
    what is wrong with the value itself.
    """

    def __init__(self, code: ErrorCode, message: str, path: Path = ()) -> None:
        self.code = code
        self.message = message
        self.path = path
        super().__init__(message)

    def to_problem(self, prefix: Path) -> Problem:
        """Return this error as a :class:`Problem` under ``prefix``."""
        return Problem(prefix + self.path, self.code, self.message)


class StorageError(AppgraphError):
    """A store operation failed for a reason the caller can act on."""


class NotFoundError(StorageError):
    """The requested workspace, app, version, record or file does not exist."""


class ConflictError(StorageError):
    """A write lost a race: a unique key exists or a revision moved on."""


class PermissionDeniedError(AppgraphError):
    """The caller's token does not allow this operation."""


class UploadError(AppgraphError):
    """An uploaded file was rejected; ``code`` says why."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        self.code = code
        super().__init__(message)
