from __future__ import annotations

from typing import Any

import pytest

from blocks.base import BlockType, ConfigContext, FileInfo, IndexKind, ValueContext
from blocks.builtin.media import (
    AudioBlockType,
    FileBlockType,
    PhotoBlockType,
    SignatureBlockType,
    VideoBlockType,
    matches_media_type,
)
from blocks.definition import Block
from blocks.errors import ErrorCode, ValueProblem
from blocks.filters import Compare, Not, Operator
from blocks.types import TypeLibrary
from tests.blocks.builtin.fakes import FakeFiles

PHOTO = PhotoBlockType()
FILE = FileBlockType()
SIGNATURE = SignatureBlockType()

JPEG = FileInfo("f1", "plot.jpg", "image/jpeg", 2048, "ab" * 32)
PDF = FileInfo("f2", "report.pdf", "application/pdf", 10_000, "cd" * 32)
EMPTY = FileInfo("f3", "empty.png", "image/png", 0, "ef" * 32)
MP4 = FileInfo("f4", "walk.mp4", "video/mp4", 5000, "01" * 32)


@pytest.fixture(autouse=True)
def stored_files(files: FakeFiles) -> None:
    for info in (JPEG, PDF, EMPTY, MP4):
        files.add(info)


def photo_block(**config: Any) -> Block:
    return Block("picture", "photo", config=config)


def file_block(**config: Any) -> Block:
    return Block("attachment", "file", config=config)


async def test_photo_stores_file_reference(context: ValueContext) -> None:
    stored = await PHOTO.normalize(photo_block(), {"fileId": "f1"}, context)
    assert stored == {
        "id": "f1",
        "filename": "plot.jpg",
        "content_type": "image/jpeg",
        "size": 2048,
        "sha256": "ab" * 32,
    }


async def test_file_accepts_any_type(context: ValueContext) -> None:
    stored = await FILE.normalize(
        file_block(), {"fileId": "f2", "upload": None}, context
    )
    assert stored["id"] == "f2"


async def test_file_accept_exact_type(context: ValueContext) -> None:
    block = file_block(accept=["application/pdf"])
    assert (await FILE.normalize(block, {"fileId": "f2"}, context))["id"] == "f2"
    with pytest.raises(ValueProblem) as caught:
        await FILE.normalize(block, {"fileId": "f1"}, context)
    assert caught.value.code is ErrorCode.CONTENT_TYPE_MISMATCH
    assert "image/jpeg; this block accepts application/pdf" in caught.value.message


async def test_photo_rejects_pdf(context: ValueContext) -> None:
    with pytest.raises(ValueProblem) as caught:
        await PHOTO.normalize(photo_block(), {"fileId": "f2"}, context)
    assert caught.value.code is ErrorCode.CONTENT_TYPE_MISMATCH
    assert "accepts image/*" in caught.value.message


async def test_signature_is_image_only(context: ValueContext) -> None:
    block = Block("signed", "signature")
    assert (await SIGNATURE.normalize(block, {"fileId": "f1"}, context))["id"] == "f1"
    with pytest.raises(ValueProblem) as caught:
        await SIGNATURE.normalize(block, {"fileId": "f4"}, context)
    assert caught.value.code is ErrorCode.CONTENT_TYPE_MISMATCH


async def test_media_rejects_large_file(context: ValueContext) -> None:
    with pytest.raises(ValueProblem) as caught:
        await PHOTO.normalize(photo_block(max_size=1024), {"fileId": "f1"}, context)
    assert caught.value.code is ErrorCode.FILE_TOO_LARGE
    assert "2048 bytes" in caught.value.message
    assert "at most 1024 bytes" in caught.value.message


async def test_media_accepts_size_at_limit(context: ValueContext) -> None:
    stored = await PHOTO.normalize(
        photo_block(max_size=2048), {"fileId": "f1"}, context
    )
    assert stored["size"] == 2048


async def test_media_rejects_empty_file(context: ValueContext) -> None:
    with pytest.raises(ValueProblem) as caught:
        await PHOTO.normalize(photo_block(), {"fileId": "f3"}, context)
    assert caught.value.code is ErrorCode.FILE_EMPTY


async def test_media_unknown_file(context: ValueContext) -> None:
    with pytest.raises(ValueProblem) as caught:
        await PHOTO.normalize(photo_block(), {"fileId": "nope"}, context)
    assert caught.value.code is ErrorCode.NOT_FOUND
    assert caught.value.path == ("fileId",)
    assert "'nope'" in caught.value.message


@pytest.mark.parametrize(
    ("value", "code", "fragment"),
    [
        ("f1", ErrorCode.INVALID_TYPE, "file input"),
        ({}, ErrorCode.INVALID, "exactly one of upload or fileId"),
        ({"upload": None, "fileId": None}, ErrorCode.INVALID, "exactly one"),
        ({"upload": object(), "fileId": "f1"}, ErrorCode.INVALID, "exactly one"),
        ({"upload": object()}, ErrorCode.INVALID, "GraphQL multipart request"),
        ({"fileId": 12}, ErrorCode.INVALID_TYPE, "file id string"),
        ({"fileId": ""}, ErrorCode.INVALID_TYPE, "file id string"),
        ({"id": "f1"}, ErrorCode.UNKNOWN_FIELD, "id"),
    ],
)
async def test_media_rejects_input(
    context: ValueContext, value: object, code: ErrorCode, fragment: str
) -> None:
    with pytest.raises(ValueProblem) as caught:
        await PHOTO.normalize(photo_block(), value, context)
    assert caught.value.code is code
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    ("content_type", "patterns", "expected"),
    [
        ("image/png", ("image/*",), True),
        ("IMAGE/PNG", ("image/*",), True),
        ("text/plain; charset=utf-8", ("text/plain",), True),
        ("imagex/png", ("image/*",), False),
        ("application/pdf", ("image/*", "application/pdf"), True),
        ("application/zip", (), True),
    ],
)
def test_matches_media_type(
    content_type: str, patterns: tuple[str, ...], expected: bool
) -> None:
    assert matches_media_type(content_type, patterns) is expected


def test_photo_config_accept_outside_family() -> None:
    block = photo_block(accept=["image/png", "application/pdf"])
    problems = PHOTO.validate_config(block, ConfigContext())
    assert [p.path for p in problems] == [("accept", 1)]
    assert problems[0].code is ErrorCode.INVALID_CONFIG
    assert "only image/* types" in problems[0].message


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"accept": ["pdf"]}, ("accept", 0)),
        ({"accept": []}, ("accept",)),
        ({"accept": ["Image/PNG"]}, ("accept", 0)),
        ({"max_size": 0}, ("max_size",)),
        ({"max_size": "1MB"}, ("max_size",)),
    ],
)
def test_file_config_schema_errors(
    config: dict[str, Any], path: tuple[Any, ...]
) -> None:
    problems = FILE.validate_config(file_block(**config), ConfigContext())
    assert [p.path for p in problems] == [path]


def test_signature_config_rejects_accept() -> None:
    block = Block("signed", "signature", config={"accept": ["image/png"]})
    problems = SIGNATURE.validate_config(block, ConfigContext())
    assert [p.code for p in problems] == [ErrorCode.INVALID_CONFIG]


@pytest.mark.parametrize(
    ("block_type", "accepted"),
    [
        (PHOTO, ("image/*",)),
        (VideoBlockType(), ("video/*",)),
        (AudioBlockType(), ("audio/*",)),
        (FILE, ()),
        (SIGNATURE, ("image/*",)),
    ],
)
def test_media_default_accept(
    block_type: FileBlockType, accepted: tuple[str, ...]
) -> None:
    assert block_type.accepted_types(Block("m", block_type.name)) == accepted


@pytest.mark.parametrize(
    "block_type",
    [PHOTO, VideoBlockType(), AudioBlockType(), FILE, SIGNATURE],
)
def test_media_graphql_types(block_type: BlockType) -> None:
    types = TypeLibrary()
    block = Block("m", block_type.name)
    assert block_type.output_type(block, types) is types.file_type()
    assert block_type.input_type(block, types) is types.file_input()
    assert block_type.filter_type(block, types) is types.presence_filter()
    assert block_type.index_kind is IndexKind.NONE


def test_media_filter_compiles_presence() -> None:
    node = PHOTO.compile_filter(photo_block(), ("picture",), {"isNull": False})
    assert node == Not(Compare(("picture",), Operator.IS_NULL, True))


def test_media_index_value_is_none() -> None:
    assert PHOTO.index_value(photo_block(), JPEG.to_value()) is None
