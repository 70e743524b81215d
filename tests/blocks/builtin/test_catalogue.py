"""The registry of built-in types matches docs/blocks.md, the shared catalogue."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from blocks.base import BlockRole, BlockType
from blocks.builtin import appgraph_block_types
from blocks.registry import BlockRegistry

CATALOGUE = Path(__file__).parents[3] / "docs" / "blocks.md"
BUILTIN_TYPES = appgraph_block_types()


def catalogue_rows() -> dict[str, list[str]]:
    """Return the cells of each table row of docs/blocks.md by type name."""
    rows: dict[str, list[str]] = {}
    for line in CATALOGUE.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        for name in re.findall(r"`([a-z_]+)`", cells[0]):
            rows[name] = cells
    return rows


def test_registry_contains_every_catalogue_type() -> None:
    registry = BlockRegistry.default(load_entry_points=False)
    missing = sorted(set(catalogue_rows()) - set(registry.names()))
    assert missing == []


def test_catalogue_lists_every_builtin_type() -> None:
    undocumented = sorted({t.name for t in BUILTIN_TYPES} - set(catalogue_rows()))
    assert undocumented == []


def test_builtin_types_registered_by_builtin_plugin() -> None:
    registry = BlockRegistry.default(load_entry_points=False)
    plugins = {entry.plugin for entry in registry}
    assert plugins == {"appgraph.builtin"}


@pytest.mark.parametrize("block_type", BUILTIN_TYPES, ids=lambda t: t.name)
def test_catalogue_documents_config_keys(block_type: BlockType) -> None:
    rows = catalogue_rows()
    cell = rows[block_type.name][3]
    documented = set(re.findall(r"`([a-z_]+)", cell))
    # "as `text`" means the keys of the text row apply too.
    for base in re.findall(r"as `([a-z_]+)`", cell):
        documented |= set(re.findall(r"`([a-z_]+)", rows[base][3]))
    keys = set(block_type.config_schema["properties"])
    assert keys - documented == set()


@pytest.mark.parametrize("block_type", BUILTIN_TYPES, ids=lambda t: t.name)
def test_catalogue_documents_value_type(block_type: BlockType) -> None:
    if block_type.role in (BlockRole.DISPLAY, BlockRole.SECTION, BlockRole.REPEAT):
        return
    cell = catalogue_rows()[block_type.name][1]
    assert f"`{block_type.value_type}" in cell


@pytest.mark.parametrize("block_type", BUILTIN_TYPES, ids=lambda t: t.name)
def test_catalogue_documents_xlsform_types(block_type: BlockType) -> None:
    cell = catalogue_rows()[block_type.name][4]
    for xlsform_type in block_type.xlsform_types:
        assert f"`{xlsform_type}`" in cell


@pytest.mark.parametrize("block_type", BUILTIN_TYPES, ids=lambda t: t.name)
def test_config_schema_is_strict(block_type: BlockType) -> None:
    schema = block_type.config_schema
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    for key, property_schema in schema["properties"].items():
        assert property_schema.get("description"), key


@pytest.mark.parametrize("block_type", BUILTIN_TYPES, ids=lambda t: t.name)
def test_block_type_describes_itself(block_type: BlockType) -> None:
    assert block_type.label
    assert block_type.description.endswith(".")


def test_xlsform_types_claimed_once() -> None:
    claims: dict[str, str] = {}
    for block_type in BUILTIN_TYPES:
        for xlsform_type in block_type.xlsform_types:
            assert xlsform_type not in claims or xlsform_type == "range", xlsform_type
            claims[xlsform_type] = block_type.name


def nested_objects(schema: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = []
    if schema.get("type") == "object" and "properties" in schema:
        found.append(schema)
    for value in schema.values():
        if isinstance(value, Mapping):
            found.extend(nested_objects(value))
    return found


@pytest.mark.parametrize("block_type", BUILTIN_TYPES, ids=lambda t: t.name)
def test_nested_config_objects_are_strict(block_type: BlockType) -> None:
    for schema in nested_objects(block_type.config_schema):
        assert schema["additionalProperties"] is False
