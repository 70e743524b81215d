"""Differences between two versions of a definition, and whether they break clients.

A change is *breaking* when a GraphQL query or a submission that worked
against the old version may fail against the new one. Examples are a field
that was removed, renamed, retyped or moved to another type, a value that
became required, a removed option, and a config that narrows the accepted
values. Blocks are matched by id, because the id is stable across versions.

Rules count as follows. Adding or changing a rule, ``required_if`` or
``required`` is breaking, because an expression change cannot be proved to
accept everything the old one did. Removing one is not breaking, nor is
changing only a rule's message. Adding a ``visible_if`` only hides a block,
which drops its value and its requirement, so it is not breaking. Changing
or removing the ``visible_if`` of a block that is required, or that contains
required blocks, is breaking.

A config change that :func:`diff_definitions` cannot classify, such as a key
of a plugin's block type, counts as breaking.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from blocks.base import BlockRole
from blocks.definition import Block, Definition
from blocks.registry import BlockRegistry


class ChangeKind(StrEnum):
    """Kind of change to one block between two versions."""

    BLOCK_ADDED = "BLOCK_ADDED"
    BLOCK_REMOVED = "BLOCK_REMOVED"
    BLOCK_RENAMED = "BLOCK_RENAMED"
    """Same id, new field name."""
    BLOCK_RETYPED = "BLOCK_RETYPED"
    BLOCK_MOVED = "BLOCK_MOVED"
    """New parent block. Reordering among the same siblings is not a move."""
    OPTIONS_CHANGED = "OPTIONS_CHANGED"
    RULES_CHANGED = "RULES_CHANGED"
    """``visible_if``, ``required_if`` or ``rules`` changed."""
    CONFIG_CHANGED = "CONFIG_CHANGED"
    """One config key other than ``options`` changed."""
    LABEL_CHANGED = "LABEL_CHANGED"
    """The label or the hint changed."""
    REQUIRED_CHANGED = "REQUIRED_CHANGED"


@dataclass(frozen=True)
class Change:
    """One change to one block.

    ``path`` is the block ids from the top level down to the block, in the
    new version (in the old one for a removed block). ``before`` and
    ``after`` are JSON-like data whose shape depends on ``kind``.
    """

    kind: ChangeKind
    block_id: str
    path: tuple[str, ...]
    breaking: bool
    detail: str
    before: Any = None
    after: Any = None

    def to_dict(self) -> dict[str, Any]:
        """Return the change as JSON-ready data."""
        return {
            "kind": self.kind.value,
            "block_id": self.block_id,
            "path": list(self.path),
            "breaking": self.breaking,
            "detail": self.detail,
            "before": _json_ready(self.before),
            "after": _json_ready(self.after),
        }


@dataclass(frozen=True)
class DefinitionDiff:
    """The changes from one definition version to the next, in block order."""

    changes: tuple[Change, ...]

    @property
    def breaking(self) -> bool:
        """Return whether any change is breaking."""
        return any(change.breaking for change in self.changes)

    def to_dict(self) -> dict[str, Any]:
        """Return the diff as JSON-ready data."""
        return {
            "breaking": self.breaking,
            "changes": [change.to_dict() for change in self.changes],
        }


def diff_definitions(
    old: Definition, new: Definition, registry: BlockRegistry
) -> DefinitionDiff:
    """Return the changes that turn ``old`` into ``new``.

    Changes of blocks present in ``new`` come first, in its block order,
    then removed blocks in the order of ``old``. A block type missing from
    ``registry`` is treated as one that stores a value.
    """
    old_index = _index(old, registry)
    new_index = _index(new, registry)
    changes: list[Change] = []
    for block_id, after in new_index.items():
        before = old_index.get(block_id)
        if before is None:
            changes.append(_added(after, old_index, new_index))
        else:
            changes.extend(_compare(before, after, new_index))
    for block_id, before in old_index.items():
        if block_id not in new_index:
            changes.append(_removed(before))
    return DefinitionDiff(tuple(changes))


# Indexing ---------------------------------------------------------------


@dataclass(frozen=True)
class _Placed:
    block: Block
    path: tuple[str, ...]
    repeats: tuple[str, ...]
    """Ids of the enclosing repeats: blocks with equal tuples share a GraphQL type."""
    role: BlockRole

    @property
    def has_field(self) -> bool:
        return self.role not in (BlockRole.DISPLAY, BlockRole.SECTION)

    @property
    def parent(self) -> tuple[str, ...]:
        return self.path[:-1]


def _index(definition: Definition, registry: BlockRegistry) -> dict[str, _Placed]:
    index: dict[str, _Placed] = {}
    for path, block, repeats in _walk(definition.blocks, (), (), registry):
        # The first block with an id wins; validation rejects duplicates.
        index.setdefault(
            block.id, _Placed(block, path, repeats, _role(block, registry))
        )
    return index


def _walk(
    blocks: Sequence[Block],
    path: tuple[str, ...],
    repeats: tuple[str, ...],
    registry: BlockRegistry,
) -> Iterator[tuple[tuple[str, ...], Block, tuple[str, ...]]]:
    for block in blocks:
        block_path = (*path, block.id)
        yield block_path, block, repeats
        inner = repeats
        if _role(block, registry) is BlockRole.REPEAT:
            inner = (*repeats, block.id)
        yield from _walk(block.children, block_path, inner, registry)


def _role(block: Block, registry: BlockRegistry) -> BlockRole:
    block_type = registry.get(block.type)
    return block_type.role if block_type is not None else BlockRole.VALUE


def _is_required(placed: _Placed) -> bool:
    return placed.block.required or placed.block.required_if is not None


def _requires_values(placed: _Placed, index: Mapping[str, _Placed]) -> bool:
    """Return whether the block, or a block of its level inside it, is required."""
    if _is_required(placed):
        return True
    if placed.role is not BlockRole.SECTION:
        return False
    return any(
        _is_required(other)
        for other in index.values()
        if other.path[: len(placed.path)] == placed.path
        and other.repeats == placed.repeats
    )


# Added and removed blocks -----------------------------------------------


def _added(
    placed: _Placed, old: Mapping[str, _Placed], new: Mapping[str, _Placed]
) -> Change:
    block = placed.block
    # A required block inside a repeat that is new as well is required only
    # in rows that old clients cannot send, so it breaks nothing.
    in_new_repeat = any(repeat not in old for repeat in placed.repeats)
    breaking = placed.has_field and _is_required(placed) and not in_new_repeat
    detail = f"Added the {block.type} block {block.id!r}"
    if placed.has_field:
        detail += f" as the field {block.field_name!r}"
    if breaking:
        detail += "; it is required, so submissions without it now fail"
    return Change(
        ChangeKind.BLOCK_ADDED,
        block.id,
        placed.path,
        breaking,
        detail + ".",
        None,
        _summary(placed),
    )


def _removed(placed: _Placed) -> Change:
    block = placed.block
    detail = f"Removed the {block.type} block {block.id!r}"
    if placed.has_field:
        detail += f"; queries and submissions of the field {block.field_name!r} fail"
    return Change(
        ChangeKind.BLOCK_REMOVED,
        block.id,
        placed.path,
        placed.has_field,
        detail + ".",
        _summary(placed),
        None,
    )


def _summary(placed: _Placed) -> dict[str, Any]:
    return {"type": placed.block.type, "name": placed.block.field_name}


# Blocks in both versions ------------------------------------------------


def _compare(
    before: _Placed, after: _Placed, new_index: Mapping[str, _Placed]
) -> list[Change]:
    changes: list[Change] = []
    changes.extend(_structure_changes(before, after))
    changes.extend(_requirement_changes(before, after, new_index))
    changes.extend(_text_changes(before, after))
    if before.block.type == after.block.type:
        changes.extend(_option_changes(before, after))
        changes.extend(_config_changes(before, after))
    return changes


def _change(
    kind: ChangeKind,
    placed: _Placed,
    breaking: bool,
    detail: str,
    before: Any,
    after: Any,
) -> Change:
    return Change(kind, placed.block.id, placed.path, breaking, detail, before, after)


def _structure_changes(before: _Placed, after: _Placed) -> Iterator[Change]:
    old, new = before.block, after.block
    has_field = before.has_field or after.has_field
    if old.type != new.type:
        yield _change(
            ChangeKind.BLOCK_RETYPED,
            after,
            has_field,
            f"The block {new.id!r} changed type from {old.type} to {new.type}.",
            old.type,
            new.type,
        )
    if old.field_name != new.field_name and has_field:
        yield _change(
            ChangeKind.BLOCK_RENAMED,
            after,
            True,
            f"The field {old.field_name!r} was renamed to {new.field_name!r}; "
            "queries of the old name fail.",
            old.field_name,
            new.field_name,
        )
    if before.parent != after.parent:
        other_type = before.repeats != after.repeats and has_field
        detail = (
            f"The block {new.id!r} moved from {_where(before.parent)} to "
            f"{_where(after.parent)}"
        )
        if other_type:
            detail += ", onto another GraphQL type"
        yield _change(
            ChangeKind.BLOCK_MOVED,
            after,
            other_type,
            detail + ".",
            list(before.path),
            list(after.path),
        )


def _where(parent: tuple[str, ...]) -> str:
    return "the top level" if not parent else "/".join(parent)


def _requirement_changes(
    before: _Placed, after: _Placed, new_index: Mapping[str, _Placed]
) -> Iterator[Change]:
    old, new = before.block, after.block
    if old.required != new.required:
        yield _change(
            ChangeKind.REQUIRED_CHANGED,
            after,
            new.required,
            f"The block {new.id!r} is {'now' if new.required else 'no longer'} "
            "required.",
            old.required,
            new.required,
        )
    if old.required_if != new.required_if:
        yield _change(
            ChangeKind.RULES_CHANGED,
            after,
            new.required_if is not None,
            _expression_detail("required_if", new.id, old.required_if, new.required_if),
            old.required_if,
            new.required_if,
        )
    if old.visible_if != new.visible_if:
        # Only adding a condition can do no harm: it hides the block, which
        # drops the block's value and its requirement.
        only_added = old.visible_if is None
        breaking = not only_added and _requires_values(after, new_index)
        yield _change(
            ChangeKind.RULES_CHANGED,
            after,
            breaking,
            _expression_detail("visible_if", new.id, old.visible_if, new.visible_if),
            old.visible_if,
            new.visible_if,
        )
    yield from _rule_changes(before, after)


def _expression_detail(
    key: str, block_id: str, before: str | None, after: str | None
) -> str:
    if before is None:
        return f"The block {block_id!r} got the {key} {after}."
    if after is None:
        return f"The {key} of the block {block_id!r} was removed."
    return f"The {key} of the block {block_id!r} changed from {before} to {after}."


def _rule_changes(before: _Placed, after: _Placed) -> Iterator[Change]:
    old_rules, new_rules = before.block.rules, after.block.rules
    if old_rules == new_rules:
        return
    old_expressions = [rule.expression for rule in old_rules]
    new_expressions = [rule.expression for rule in new_rules]
    added = [e for e in new_expressions if e not in old_expressions]
    removed = [e for e in old_expressions if e not in new_expressions]
    parts = []
    if added:
        parts.append("added or changed " + ", ".join(added))
    if removed:
        parts.append("removed " + ", ".join(removed))
    if not parts:
        parts.append("changed rule messages")
    yield _change(
        ChangeKind.RULES_CHANGED,
        after,
        bool(added),
        f"Rules of the block {after.block.id!r}: {'; '.join(parts)}.",
        [_rule_data(rule.expression, rule.message) for rule in old_rules],
        [_rule_data(rule.expression, rule.message) for rule in new_rules],
    )


def _rule_data(expression: str, message: Mapping[str, str]) -> dict[str, Any]:
    return {"expression": expression, "message": dict(message)}


def _text_changes(before: _Placed, after: _Placed) -> Iterator[Change]:
    for key in ("label", "hint"):
        old_text = getattr(before.block, key)
        new_text = getattr(after.block, key)
        if dict(old_text) != dict(new_text):
            yield _change(
                ChangeKind.LABEL_CHANGED,
                after,
                False,
                f"The {key} of the block {after.block.id!r} changed.",
                dict(old_text),
                dict(new_text),
            )


# Options ----------------------------------------------------------------


def _options(block: Block) -> dict[str, Mapping[str, Any]] | None:
    options = block.config.get("options")
    if not isinstance(options, list):
        return None
    result: dict[str, Mapping[str, Any]] = {}
    for option in options:
        if isinstance(option, Mapping) and isinstance(option.get("value"), str):
            result.setdefault(option["value"], option)
    return result


def _option_changes(before: _Placed, after: _Placed) -> Iterator[Change]:
    old_options = _options(before.block)
    new_options = _options(after.block)
    if old_options is None or new_options is None:
        return
    if before.block.config.get("options") == after.block.config.get("options"):
        return

    added = [v for v in new_options if v not in old_options]
    removed = [v for v in old_options if v not in new_options]
    in_both = [v for v in new_options if v in old_options]
    relabelled = [
        v for v in in_both if old_options[v].get("label") != new_options[v].get("label")
    ]
    # choice_filter reads the data columns, so new data can filter an option out.
    redefined = [
        v for v in in_both if old_options[v].get("data") != new_options[v].get("data")
    ]

    parts = [
        f"{label} {', '.join(values)}"
        for label, values in (
            ("added", added),
            ("removed", removed),
            ("relabelled", relabelled),
            ("changed the data of", redefined),
        )
        if values
    ]
    if not parts:
        parts.append("reordered the options")

    yield _change(
        ChangeKind.OPTIONS_CHANGED,
        after,
        bool(removed or redefined),
        f"Options of the block {after.block.id!r}: {'; '.join(parts)}.",
        list(old_options),
        list(new_options),
    )


# Config -----------------------------------------------------------------

_NON_BREAKING_KEYS = frozenset(
    {
        "placeholder",
        "pattern_message",
        "prefix",
        "formats",
        "expression",
        "start",
        "default_country_code",
    }
)
"""Keys whose change cannot make a submission or a query fail.

A calculation's ``expression`` and a unique number's ``start`` change what
the server stores, not what clients may send or read.
"""

_LOWER_BOUND_KEYS = frozenset({"min", "min_length", "min_rows", "min_selected"})
_UPPER_BOUND_KEYS = frozenset(
    {
        "max",
        "max_length",
        "max_rows",
        "max_selected",
        "max_size",
        "max_accuracy",
        "decimal_places",
    }
)
_CONDITION_KEYS = frozenset({"pattern", "choice_filter", "count"})
"""Keys that only restrict values, so that removing them relaxes the check."""
_LIST_KEYS = frozenset({"accept", "schemes"})
"""Keys listing what is accepted, so that adding items relaxes the check."""
_OPTIONAL_FLAGS = frozenset({"allow_other"})
"""Flags that accept more when true and default to false."""


def _config_changes(before: _Placed, after: _Placed) -> Iterator[Change]:
    old_config, new_config = before.block.config, after.block.config
    keys = [k for k in new_config if k != "options"]
    keys += [k for k in old_config if k not in new_config and k != "options"]
    for key in keys:
        old_value = old_config.get(key)
        new_value = new_config.get(key)
        if old_value == new_value:
            continue
        breaking = _config_change_breaks(key, old_value, new_value)
        yield _change(
            ChangeKind.CONFIG_CHANGED,
            after,
            breaking,
            f"The config {key} of the block {after.block.id!r} changed from "
            f"{_show(old_value)} to {_show(new_value)}.",
            {key: old_value} if key in old_config else {},
            {key: new_value} if key in new_config else {},
        )


def _show(value: Any) -> str:
    return "unset" if value is None else repr(value)


def _config_change_breaks(key: str, before: Any, after: Any) -> bool:
    if key in _NON_BREAKING_KEYS:
        return False
    if key in _LOWER_BOUND_KEYS:
        return _narrows(before, after, lower=True)
    if key in _UPPER_BOUND_KEYS:
        return _narrows(before, after, lower=False)
    if key in _CONDITION_KEYS:
        return after is not None
    if key in _LIST_KEYS:
        if after is None:
            return False
        if not isinstance(before, list) or not isinstance(after, list):
            return True
        return any(item not in after for item in before)
    if key in _OPTIONAL_FLAGS:
        return bool(before) and not bool(after)
    return True


def _narrows(before: Any, after: Any, *, lower: bool) -> bool:
    """Return whether a new bound may reject a value the old bound accepted."""
    if after is None:
        return False
    if before is None:
        return True
    old_bound, new_bound = _comparable(before), _comparable(after)
    if isinstance(old_bound, Decimal) and isinstance(new_bound, Decimal):
        return new_bound > old_bound if lower else new_bound < old_bound
    if isinstance(old_bound, str) and isinstance(new_bound, str):
        return new_bound > old_bound if lower else new_bound < old_bound
    return True


def _comparable(value: Any) -> Decimal | str | None:
    """Return a bound as a Decimal, or as text for ISO dates, which sort as text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = Decimal(str(value))
        return number if number.is_finite() else None
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return value
        return number if number.is_finite() else None
    return None


def _json_ready(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    if isinstance(value, Decimal):
        return str(value)
    return value
