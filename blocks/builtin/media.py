"""File block types: ``photo``, ``video``, ``audio``, ``file`` and ``signature``.

The API layer stores an upload before the value reaches :meth:`normalize`
and replaces it with ``{"fileId": ...}``. The block type then checks the
stored file against the block's config and stores a reference to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from graphql import GraphQLInputType, GraphQLOutputType

from blocks.base import BlockType, ConfigContext, FileInfo, IndexKind, ValueContext
from blocks.builtin._support import config_problem, describe, object_schema
from blocks.definition import Block
from blocks.errors import ErrorCode, Problem, ValueProblem
from blocks.types import TypeLibrary

_MEDIA_TYPE_PATTERN = r"^[a-z0-9][a-z0-9!#$&^_.+-]*/([a-z0-9][a-z0-9!#$&^_.+-]*|\*)$"

_MAX_SIZE_SCHEMA = {
    "type": "integer",
    "minimum": 1,
    "description": "Largest accepted file size in bytes.",
}

_ACCEPT_SCHEMA = {
    "type": "array",
    "items": {"type": "string", "pattern": _MEDIA_TYPE_PATTERN},
    "minItems": 1,
    "uniqueItems": True,
    "description": (
        "Accepted media types in lowercase, exact such as application/pdf or a "
        "whole family such as image/*."
    ),
}


def matches_media_type(content_type: str, patterns: Sequence[str]) -> bool:
    """Return whether ``content_type`` matches any of ``patterns``.

    Parameters such as ``; charset=utf-8`` are ignored and the comparison is
    case-insensitive. An empty ``patterns`` matches every type.
    """
    if not patterns:
        return True
    essence = content_type.split(";", 1)[0].strip().lower()
    for pattern in patterns:
        if pattern.endswith("/*"):
            if essence.startswith(pattern[:-1]):
                return True
        elif essence == pattern:
            return True
    return False


class FileBlockType(BlockType):
    """A reference to a stored file of any type, unless ``accept`` narrows it.

    Subclasses set :attr:`default_accept`, and :attr:`family` when every
    accepted type must be of one family such as ``image``.
    """

    name = "file"
    label = "File"
    description = "A file of any type, such as a PDF or a spreadsheet."
    value_type = "File"
    index_kind = IndexKind.NONE
    operand = None
    xlsform_types: ClassVar[tuple[str, ...]] = ("file",)
    default_accept: ClassVar[tuple[str, ...]] = ()
    family: ClassVar[str | None] = None
    """Media type family that ``accept`` patterns must stay in, or None."""

    config_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {"accept": _ACCEPT_SCHEMA, "max_size": _MAX_SIZE_SCHEMA}
    )

    def validate_config(self, block: Block, context: ConfigContext) -> list[Problem]:
        """Check the schema and that accepted types stay in the block's family."""
        problems = super().validate_config(block, context)
        if problems or self.family is None:
            return problems
        for index, pattern in enumerate(block.config.get("accept", ())):
            if not pattern.startswith(f"{self.family}/"):
                problems.append(
                    config_problem(
                        ("accept", index),
                        f"A {self.name} block accepts only {self.family}/* types, "
                        f"got {pattern!r}; use a file block for other types.",
                    )
                )
        return problems

    def accepted_types(self, block: Block) -> tuple[str, ...]:
        """Return the media type patterns ``block`` accepts; empty for any."""
        return tuple(block.config.get("accept", self.default_accept))

    def output_type(self, block: Block, types: TypeLibrary) -> GraphQLOutputType:
        """Return the shared ``File`` object type."""
        return types.file_type()

    def input_type(self, block: Block, types: TypeLibrary) -> GraphQLInputType | None:
        """Return the shared ``FileInput``: an upload or an existing file id."""
        return types.file_input()

    async def normalize(self, block: Block, value: Any, context: ValueContext) -> Any:
        """Look up the file named by ``fileId``, check it, and store a reference.

        Raises:
            ValueProblem: ``INVALID`` unless exactly one of ``upload`` or
                ``fileId`` is given (a remaining ``upload`` was not stored by
                the API layer), ``NOT_FOUND`` for an unknown file,
                ``CONTENT_TYPE_MISMATCH``, ``FILE_EMPTY`` or
                ``FILE_TOO_LARGE``.
        """
        file_id = _file_id(value)
        info = await context.files.get_file(file_id)
        if info is None:
            raise ValueProblem(
                ErrorCode.NOT_FOUND,
                f"No file {file_id!r} in this workspace; upload the file in this "
                "request or use the id of a stored file.",
                ("fileId",),
            )
        self._check_file(block, info)
        return info.to_value()

    def _check_file(self, block: Block, info: FileInfo) -> None:
        accepted = self.accepted_types(block)
        if not matches_media_type(info.content_type, accepted):
            raise ValueProblem(
                ErrorCode.CONTENT_TYPE_MISMATCH,
                f"The file {info.filename!r} is {info.content_type}; this block "
                f"accepts {', '.join(accepted)}.",
            )
        if info.size == 0:
            raise ValueProblem(
                ErrorCode.FILE_EMPTY,
                f"The file {info.filename!r} is empty; choose a file with content.",
            )
        max_size = block.config.get("max_size")
        if max_size is not None and info.size > max_size:
            raise ValueProblem(
                ErrorCode.FILE_TOO_LARGE,
                f"The file {info.filename!r} is {info.size} bytes; this block "
                f"accepts at most {max_size} bytes.",
            )

    def is_empty(self, stored: Any) -> bool:
        """Return whether no file is stored."""
        return stored is None

    def index_value(self, block: Block, stored: Any) -> Any:
        """Return None: files are not indexed for search."""
        return None


def _file_id(value: object) -> str:
    if not isinstance(value, Mapping):
        raise ValueProblem(
            ErrorCode.INVALID_TYPE,
            f'Expected a file input such as {{"fileId": "..."}}, got '
            f"{describe(value)}.",
        )
    unknown = sorted(str(key) for key in value if key not in ("upload", "fileId"))
    if unknown:
        raise ValueProblem(
            ErrorCode.UNKNOWN_FIELD,
            f"Unknown file input key(s) {', '.join(unknown)}; send exactly one of "
            "upload or fileId.",
        )
    upload = value.get("upload")
    file_id = value.get("fileId")
    if (upload is None) == (file_id is None):
        raise ValueProblem(
            ErrorCode.INVALID,
            "Expected exactly one of upload or fileId in a file input.",
        )
    if upload is not None:
        raise ValueProblem(
            ErrorCode.INVALID, "Uploads must be sent as a GraphQL multipart request."
        )
    if not isinstance(file_id, str) or not file_id:
        raise ValueProblem(
            ErrorCode.INVALID_TYPE,
            f"Expected fileId to be a file id string, got {describe(file_id)}.",
            ("fileId",),
        )
    return file_id


class PhotoBlockType(FileBlockType):
    """A photo: a stored image file."""

    name = "photo"
    label = "Photo"
    description = "A photo taken or chosen on the device."
    xlsform_types = ("image",)
    default_accept = ("image/*",)
    family = "image"


class VideoBlockType(FileBlockType):
    """A stored video file."""

    name = "video"
    label = "Video"
    description = "A video recorded or chosen on the device."
    xlsform_types = ("video",)
    default_accept = ("video/*",)
    family = "video"


class AudioBlockType(FileBlockType):
    """A stored audio file."""

    name = "audio"
    label = "Audio"
    description = "A sound recording."
    xlsform_types = ("audio",)
    default_accept = ("audio/*",)
    family = "audio"


class SignatureBlockType(FileBlockType):
    """A drawn signature, stored as an image file of any image type."""

    name = "signature"
    label = "Signature"
    description = "A signature drawn on the screen, stored as an image."
    xlsform_types = ()
    default_accept = ("image/*",)
    family = "image"

    config_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {"max_size": _MAX_SIZE_SCHEMA}
    )
