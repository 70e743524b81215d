"""The definition model: an ordered tree of blocks.

A definition is plain data. It is parsed from JSON-like mappings with
:func:`parse_definition`, which checks only the shape; whether block types,
configs and expressions are valid is checked by
:func:`blocks.validation.validate_definition` against a registry.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from blocks.errors import DefinitionError, ErrorCode, Path, Problem

Text = Mapping[str, str]
"""A translatable text: language code to text; ``"default"`` when untagged."""

DEFAULT_LANGUAGE = "default"


@dataclass(frozen=True)
class Rule:
    """A validation rule: ``expression`` must be true for the value to pass."""

    expression: str
    message: Text = field(default_factory=dict)


@dataclass(frozen=True)
class Block:
    """One block of a definition.

    ``id`` is stable across versions and is the key under which the value is
    stored. ``name`` is the GraphQL field name; it defaults to ``id`` and may
    change between versions (a rename).
    """

    id: str
    type: str
    name: str = ""
    label: Text = field(default_factory=dict)
    hint: Text = field(default_factory=dict)
    required: bool = False
    required_if: str | None = None
    visible_if: str | None = None
    rules: tuple[Rule, ...] = ()
    config: Mapping[str, Any] = field(default_factory=dict)
    children: tuple[Block, ...] = ()

    @property
    def field_name(self) -> str:
        """Return the GraphQL field name of this block."""
        return self.name or self.id


@dataclass(frozen=True)
class Definition:
    """An app definition: its blocks in order and the languages of its texts."""

    blocks: tuple[Block, ...] = ()
    languages: tuple[str, ...] = ()
    default_language: str = DEFAULT_LANGUAGE

    def walk(self) -> Iterator[tuple[Path, Block]]:
        """Yield every block with its path of ids, depth first, in order."""
        yield from _walk(self.blocks, ())

    def find(self, block_id: str) -> Block | None:
        """Return the block with ``block_id`` anywhere in the tree, if any."""
        for _, block in self.walk():
            if block.id == block_id:
                return block
        return None


def _walk(blocks: Sequence[Block], prefix: Path) -> Iterator[tuple[Path, Block]]:
    for block in blocks:
        path = (*prefix, block.id)
        yield path, block
        yield from _walk(block.children, path)


_BLOCK_KEYS = {
    "id",
    "type",
    "name",
    "label",
    "hint",
    "required",
    "required_if",
    "visible_if",
    "rules",
    "config",
    "children",
}


_DEFINITION_KEYS = ("blocks", "languages", "default_language")

MAX_BLOCK_DEPTH = 32
"""Maximum nesting of blocks: a top-level block is at depth 1, its children
at depth 2. Checking nested blocks recurses once per level, so the limit also
keeps a crafted definition from exhausting the interpreter's stack."""


def parse_definition(data: Mapping[str, Any]) -> Definition:
    """Parse a JSON-like mapping into a :class:`Definition`.

    Raises:
        DefinitionError: with one problem per malformed block; nothing is
            returned when any block is malformed.
    """
    problems: list[Problem] = []
    if not isinstance(data, Mapping):
        raise DefinitionError(
            [Problem((), ErrorCode.INVALID, "Expected a definition object.")]
        )
    unknown = sorted(str(key) for key in data if key not in _DEFINITION_KEYS)
    for key in unknown:
        problems.append(
            Problem(
                (key,),
                ErrorCode.UNKNOWN_FIELD,
                f"Unknown definition key {key!r}; allowed keys are "
                f"{', '.join(_DEFINITION_KEYS)}.",
            )
        )
    if "blocks" not in data:
        problems.append(
            Problem(
                ("blocks",),
                ErrorCode.REQUIRED,
                'A definition needs the key "blocks" with a list of blocks; '
                'send "blocks": [] for an app without blocks.',
            )
        )
    raw_blocks = data.get("blocks", [])
    if not isinstance(raw_blocks, list):
        raise DefinitionError(
            [Problem(("blocks",), ErrorCode.INVALID, "Expected a list of blocks.")]
        )
    blocks = _parse_blocks(raw_blocks, ("blocks",), problems)
    languages = data.get("languages", [])
    if not isinstance(languages, list) or not all(
        isinstance(x, str) for x in languages
    ):
        problems.append(
            Problem(
                ("languages",),
                ErrorCode.INVALID,
                'Expected a list of language codes such as ["en", "sw"].',
            )
        )
        languages = []
    default_language = data.get("default_language") or (
        languages[0] if languages else DEFAULT_LANGUAGE
    )
    if not isinstance(default_language, str):
        problems.append(
            Problem(
                ("default_language",), ErrorCode.INVALID, "Expected a language code."
            )
        )
        default_language = DEFAULT_LANGUAGE
    if problems:
        raise DefinitionError(problems)
    return Definition(tuple(blocks), tuple(languages), default_language)


def _parse_blocks(
    raw_blocks: list[Any], path: Path, problems: list[Problem], depth: int = 1
) -> list[Block]:
    if raw_blocks and depth > MAX_BLOCK_DEPTH:
        problems.append(
            Problem(
                path,
                ErrorCode.INVALID,
                f"Blocks are nested more than {MAX_BLOCK_DEPTH} levels deep; "
                "move some blocks up a level.",
            )
        )
        return []
    blocks = []
    for index, raw in enumerate(raw_blocks):
        block = _parse_block(raw, (*path, index), problems, depth)
        if block is not None:
            blocks.append(block)
    return blocks


def _parse_block(
    raw: Any, path: Path, problems: list[Problem], depth: int
) -> Block | None:
    if not isinstance(raw, Mapping):
        problems.append(Problem(path, ErrorCode.INVALID, "Expected a block object."))
        return None
    before = len(problems)
    unknown = sorted(set(raw) - _BLOCK_KEYS)
    if unknown:
        problems.append(
            Problem(
                path,
                ErrorCode.UNKNOWN_FIELD,
                f"Unknown block key(s) {', '.join(unknown)}; "
                f"allowed keys are {', '.join(sorted(_BLOCK_KEYS))}.",
            )
        )
    block_id = raw.get("id")
    block_type = raw.get("type")
    if not isinstance(block_id, str) or not block_id:
        problems.append(
            Problem((*path, "id"), ErrorCode.REQUIRED, "Every block needs a string id.")
        )
    if not isinstance(block_type, str) or not block_type:
        problems.append(
            Problem(
                (*path, "type"),
                ErrorCode.REQUIRED,
                'Every block needs a type, such as "text" or "number".',
            )
        )
    name = raw.get("name", "")
    if not isinstance(name, str):
        problems.append(Problem((*path, "name"), ErrorCode.INVALID, "Expected text."))
    label = _parse_text(raw.get("label"), (*path, "label"), problems)
    hint = _parse_text(raw.get("hint"), (*path, "hint"), problems)
    required = raw.get("required", False)
    if not isinstance(required, bool):
        problems.append(
            Problem((*path, "required"), ErrorCode.INVALID, "Expected true or false.")
        )
    required_if = _parse_optional_str(raw, "required_if", path, problems)
    visible_if = _parse_optional_str(raw, "visible_if", path, problems)
    rules = _parse_rules(raw.get("rules", []), (*path, "rules"), problems)
    config = raw.get("config", {})
    if not isinstance(config, Mapping):
        problems.append(
            Problem((*path, "config"), ErrorCode.INVALID, "Expected a config object.")
        )
        config = {}
    raw_children = raw.get("children", [])
    if not isinstance(raw_children, list):
        problems.append(
            Problem((*path, "children"), ErrorCode.INVALID, "Expected a list.")
        )
        raw_children = []
    children = _parse_blocks(raw_children, (*path, "children"), problems, depth + 1)
    if len(problems) > before:
        return None
    return Block(
        id=str(block_id),
        type=str(block_type),
        name=name,
        label=label,
        hint=hint,
        required=bool(required),
        required_if=required_if,
        visible_if=visible_if,
        rules=tuple(rules),
        config=dict(config),
        children=tuple(children),
    )


def _parse_optional_str(
    raw: Mapping[str, Any], key: str, path: Path, problems: list[Problem]
) -> str | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        problems.append(
            Problem((*path, key), ErrorCode.INVALID, "Expected an expression string.")
        )
        return None
    return value


def _parse_text(value: Any, path: Path, problems: list[Problem]) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, str):
        return {DEFAULT_LANGUAGE: value}
    if isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        return dict(value)
    problems.append(
        Problem(
            path,
            ErrorCode.INVALID,
            "Expected text, or an object of language code to text.",
        )
    )
    return {}


def _parse_rules(value: Any, path: Path, problems: list[Problem]) -> list[Rule]:
    if not isinstance(value, list):
        problems.append(Problem(path, ErrorCode.INVALID, "Expected a list of rules."))
        return []
    rules = []
    for index, raw in enumerate(value):
        if isinstance(raw, str):
            rules.append(Rule(raw))
            continue
        if not isinstance(raw, Mapping) or not isinstance(raw.get("expression"), str):
            problems.append(
                Problem(
                    (*path, index),
                    ErrorCode.INVALID,
                    'Expected {"expression": ..., "message": ...}.',
                )
            )
            continue
        message = _parse_text(raw.get("message"), (*path, index, "message"), problems)
        rules.append(Rule(raw["expression"], message))
    return rules


def dump_definition(definition: Definition) -> dict[str, Any]:
    """Return ``definition`` as JSON-ready data that parses back unchanged."""
    return {
        "languages": list(definition.languages),
        "default_language": definition.default_language,
        "blocks": [_dump_block(b) for b in definition.blocks],
    }


def _dump_block(block: Block) -> dict[str, Any]:
    data: dict[str, Any] = {"id": block.id, "type": block.type}
    if block.name:
        data["name"] = block.name
    if block.label:
        data["label"] = dict(block.label)
    if block.hint:
        data["hint"] = dict(block.hint)
    if block.required:
        data["required"] = True
    if block.required_if:
        data["required_if"] = block.required_if
    if block.visible_if:
        data["visible_if"] = block.visible_if
    if block.rules:
        data["rules"] = [
            {"expression": r.expression, "message": dict(r.message)}
            for r in block.rules
        ]
    if block.config:
        data["config"] = dict(block.config)
    if block.children:
        data["children"] = [_dump_block(c) for c in block.children]
    return data
