"""The built-in block types, registered through the ``appgraph_block_types`` hook.

:func:`plugins.manager.create_plugin_manager` registers this module the same
way third-party plugins register theirs. docs/blocks.md is the catalogue of
these types and their config keys.
"""

from __future__ import annotations

from blocks.base import BlockType
from blocks.builtin.barcode import BarcodeBlockType
from blocks.builtin.boolean import BooleanBlockType
from blocks.builtin.calculation import CalculationBlockType
from blocks.builtin.containers import RepeatBlockType, SectionBlockType
from blocks.builtin.email import EmailBlockType
from blocks.builtin.external_api import ExternalApiBlockType
from blocks.builtin.geopoint import GeoPointBlockType
from blocks.builtin.lookup import LookupBlockType
from blocks.builtin.media import (
    AudioBlockType,
    FileBlockType,
    PhotoBlockType,
    SignatureBlockType,
    VideoBlockType,
)
from blocks.builtin.note import NoteBlockType
from blocks.builtin.number import NumberBlockType
from blocks.builtin.phone import PhoneBlockType
from blocks.builtin.scales import CounterBlockType, RatingBlockType, SliderBlockType
from blocks.builtin.select import SelectManyBlockType, SelectOneBlockType
from blocks.builtin.temporal import DateBlockType, DateTimeBlockType, TimeBlockType
from blocks.builtin.text import TextareaBlockType, TextBlockType
from blocks.builtin.unique_number import UniqueNumberBlockType
from blocks.builtin.url import UrlBlockType
from plugins import hookimpl

__all__ = [
    "AudioBlockType",
    "BarcodeBlockType",
    "BooleanBlockType",
    "CalculationBlockType",
    "CounterBlockType",
    "DateBlockType",
    "DateTimeBlockType",
    "EmailBlockType",
    "ExternalApiBlockType",
    "FileBlockType",
    "GeoPointBlockType",
    "LookupBlockType",
    "NoteBlockType",
    "NumberBlockType",
    "PhoneBlockType",
    "PhotoBlockType",
    "RatingBlockType",
    "RepeatBlockType",
    "SectionBlockType",
    "SelectManyBlockType",
    "SelectOneBlockType",
    "SignatureBlockType",
    "SliderBlockType",
    "TextBlockType",
    "TextareaBlockType",
    "TimeBlockType",
    "UniqueNumberBlockType",
    "UrlBlockType",
    "VideoBlockType",
    "appgraph_block_types",
]


@hookimpl
def appgraph_block_types() -> list[BlockType]:
    """Return one instance of every built-in block type, in catalogue order."""
    return [
        TextBlockType(),
        TextareaBlockType(),
        NumberBlockType(),
        EmailBlockType(),
        PhoneBlockType(),
        UrlBlockType(),
        DateBlockType(),
        TimeBlockType(),
        DateTimeBlockType(),
        SelectOneBlockType(),
        SelectManyBlockType(),
        BooleanBlockType(),
        GeoPointBlockType(),
        PhotoBlockType(),
        VideoBlockType(),
        AudioBlockType(),
        FileBlockType(),
        BarcodeBlockType(),
        SignatureBlockType(),
        CounterBlockType(),
        SliderBlockType(),
        RatingBlockType(),
        NoteBlockType(),
        CalculationBlockType(),
        LookupBlockType(),
        ExternalApiBlockType(),
        UniqueNumberBlockType(),
        SectionBlockType(),
        RepeatBlockType(),
    ]
