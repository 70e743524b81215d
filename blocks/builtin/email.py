"""The ``email`` block type: an e-mail address with a practical syntax check."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from blocks.base import BlockType, IndexKind, ValueContext
from blocks.builtin._support import describe, object_schema
from blocks.definition import Block
from blocks.errors import ErrorCode, ValueProblem
from blocks.filters import Operand

MAX_ADDRESS_LENGTH = 254
"""Maximum address length: RFC 5321 limits a path to 256 octets, brackets included."""

MAX_LOCAL_LENGTH = 64
MAX_LABEL_LENGTH = 63

_EXAMPLE = "such as amina@example.org"


class EmailBlockType(BlockType):
    """An e-mail address, stored with its domain lowercased.

    The check is practical rather than RFC 5322 complete: one ``@``, a local
    part without spaces, and a domain of at least two dot-separated labels of
    letters, digits and hyphens (non-ASCII letters allowed). Quoted local
    parts and IP address literals are rejected.
    """

    name = "email"
    label = "E-mail"
    description = "An e-mail address."
    value_type = "String"
    index_kind = IndexKind.KEYWORD
    operand = Operand.TEXT

    config_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {
            "max_length": {
                "type": "integer",
                "minimum": 6,
                "maximum": MAX_ADDRESS_LENGTH,
                "description": "Maximum length in characters; default and maximum 254.",
            },
        }
    )

    async def normalize(self, block: Block, value: Any, context: ValueContext) -> Any:
        """Check the address and return it with the domain in lowercase."""
        if not isinstance(value, str):
            raise ValueProblem(
                ErrorCode.INVALID_TYPE,
                f"Expected an e-mail address {_EXAMPLE}, got {describe(value)}.",
            )
        max_length = block.config.get("max_length", MAX_ADDRESS_LENGTH)
        if len(value) > max_length:
            raise ValueProblem(
                ErrorCode.TOO_LONG,
                f"Expected an e-mail address of at most {max_length} characters, "
                f"got {len(value)}.",
            )
        if any(char.isspace() or not char.isprintable() for char in value):
            raise ValueProblem(
                ErrorCode.INVALID,
                "Expected an e-mail address without spaces or control characters; "
                "remove them.",
            )
        local, at, domain = value.rpartition("@")
        if not at or not local or "@" in local:
            raise ValueProblem(
                ErrorCode.INVALID,
                f"Expected one @ between a name and a domain, {_EXAMPLE}, got "
                f"{describe(value)}.",
            )
        _check_local_part(local)
        _check_domain(domain)
        return f"{local}@{domain.lower()}"


def _check_local_part(local: str) -> None:
    if len(local) > MAX_LOCAL_LENGTH:
        raise ValueProblem(
            ErrorCode.INVALID,
            f"Expected at most {MAX_LOCAL_LENGTH} characters before the @, got "
            f"{len(local)}.",
        )
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise ValueProblem(
            ErrorCode.INVALID,
            "Expected the part before the @ not to start or end with a dot or to "
            "contain two dots in a row.",
        )


def _check_domain(domain: str) -> None:
    labels = domain.split(".")
    if len(labels) < 2:
        raise ValueProblem(
            ErrorCode.INVALID,
            f"Expected a domain with a dot after the @, {_EXAMPLE}, got {domain!r}.",
        )
    for label in labels:
        if not label or len(label) > MAX_LABEL_LENGTH:
            raise ValueProblem(
                ErrorCode.INVALID,
                f"Expected the domain {domain!r} to consist of dot-separated "
                f"names of 1 to {MAX_LABEL_LENGTH} characters.",
            )
        if not all(char.isalnum() or char == "-" for char in label):
            raise ValueProblem(
                ErrorCode.INVALID,
                f"Expected the domain {domain!r} to contain only letters, digits, "
                "hyphens and dots.",
            )
        if label.startswith("-") or label.endswith("-"):
            raise ValueProblem(
                ErrorCode.INVALID,
                f"Expected the domain {domain!r} to have no name that starts or "
                "ends with a hyphen.",
            )
