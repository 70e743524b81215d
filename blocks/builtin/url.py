"""The ``url`` block type: an absolute URL with an allowed scheme."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

from blocks.base import BlockType, ConfigContext, IndexKind, ValueContext
from blocks.builtin._support import config_problem, describe, object_schema
from blocks.definition import Block
from blocks.errors import ErrorCode, Problem, ValueProblem
from blocks.filters import Operand

DEFAULT_SCHEMES = ("https", "http")
MAX_URL_LENGTH = 2048
"""Maximum length of a URL value, in characters."""


class UrlBlockType(BlockType):
    """An absolute URL with a host, stored as given."""

    name = "url"
    label = "Web address"
    description = "An absolute URL such as https://example.org/page."
    value_type = "String"
    index_kind = IndexKind.KEYWORD
    operand = Operand.TEXT

    config_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {
            "schemes": {
                "type": "array",
                "items": {"type": "string", "pattern": "^[a-z][a-z0-9+.-]*$"},
                "minItems": 1,
                "uniqueItems": True,
                "description": (
                    'Allowed URL schemes in lowercase; default ["https", "http"].'
                ),
            },
        }
    )

    def validate_config(self, block: Block, context: ConfigContext) -> list[Problem]:
        """Check the schema and reject schemes that have no host part."""
        problems = super().validate_config(block, context)
        if problems:
            return problems
        for index, scheme in enumerate(block.config.get("schemes", ())):
            if scheme in ("mailto", "tel", "data", "javascript", "urn"):
                problems.append(
                    config_problem(
                        ("schemes", index),
                        f"The scheme {scheme!r} has no host, and url blocks require "
                        "one; use an email or phone block, or remove the scheme.",
                    )
                )
        return problems

    async def normalize(self, block: Block, value: Any, context: ValueContext) -> Any:
        """Check that the URL parses, has an allowed scheme and a host."""
        schemes = tuple(block.config.get("schemes", DEFAULT_SCHEMES))
        example = f"such as {schemes[0]}://example.org/page"
        if not isinstance(value, str):
            raise ValueProblem(
                ErrorCode.INVALID_TYPE,
                f"Expected a URL {example}, got {describe(value)}.",
            )
        if len(value) > MAX_URL_LENGTH:
            raise ValueProblem(
                ErrorCode.TOO_LONG,
                f"Expected a URL of at most {MAX_URL_LENGTH} characters, got "
                f"{len(value)}.",
            )
        if any(char.isspace() or not char.isprintable() for char in value):
            raise ValueProblem(
                ErrorCode.INVALID,
                "Expected a URL without spaces or control characters; encode "
                "spaces as %20.",
            )
        try:
            parts = urlsplit(value)
            host = parts.hostname
            parts.port  # noqa: B018 - raises ValueError for an invalid port
        except ValueError as error:
            raise ValueProblem(
                ErrorCode.INVALID, f"Expected a valid URL {example}: {error}."
            ) from error
        if parts.scheme.lower() not in schemes:
            allowed = ", ".join(schemes)
            raise ValueProblem(
                ErrorCode.INVALID,
                f"Expected a URL starting with one of the schemes {allowed}, "
                f"{example}, got {describe(value)}.",
            )
        if not host:
            raise ValueProblem(
                ErrorCode.INVALID,
                f"Expected a URL with a host name, {example}, got {describe(value)}.",
            )
        return value
