"""The submission pipeline: check submitted record data and return its stored form.

:func:`normalize_submission` takes data keyed by block id, as the GraphQL
layer passes it after mapping field names to ids, and returns the mapping to
store. It collects every problem before raising, so a client can fix all of
them at once. The steps:

1. Reject keys that are not block ids of the level (``UNKNOWN_FIELD``) and
   values for blocks the server sets or that store nothing (``READ_ONLY``).
2. On a partial update, take the values that were not submitted from the
   existing record. Those are already in stored form and are not normalized
   again.
3. Normalize every submitted value with its block type, whether or not the
   block turns out hidden, because visibility may depend on it.
4. Compute visibility, calculations and repeat rows in dependency order
   (:func:`blocks.validation.evaluation_order`), so every ``visible_if`` and
   calculation reads the final values it refers to. A computed block's value
   is its config expression named ``expression``. A hidden block has the
   value null for other expressions. Its submitted value is dropped without a
   problem, even an invalid one, because clients may still send values of
   fields that became hidden after another value changed.
5. Check every visible block: ``required`` and ``required_if``, its rules,
   the options a ``choice_filter`` allows, and the row count of a repeat.

Rules and row counts are checked only for values that are not empty, as
XLSForm constraints are. A rule fails when it evaluates to false and passes
when it evaluates to true or null, so a rule can skip a case with
``if(condition, check, null)``. Comparisons with an empty answer are false
(docs/expressions.md), so ``. < other`` fails while ``other`` is empty.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from blocks.base import BlockRole, BlockType, ValueContext
from blocks.builtin._support import check_unicode
from blocks.definition import DEFAULT_LANGUAGE, Block, Definition, Rule, Text
from blocks.errors import (
    DefinitionError,
    ErrorCode,
    Path,
    Problem,
    SubmissionError,
    ValueProblem,
)
from blocks.expressions import (
    INDEX_KEY,
    SELF_KEY,
    ExpressionError,
    Limits,
    parse_cached,
)
from blocks.registry import BlockRegistry
from blocks.validation import CHOICE_FILTER_KEY, evaluation_order

MAX_LISTED_FIELDS = 20
"""How many valid field ids an ``UNKNOWN_FIELD`` message lists at most."""

_STORED_ROLES = (
    BlockRole.VALUE,
    BlockRole.REPEAT,
    BlockRole.COMPUTED,
    BlockRole.ASSIGNED,
)
_SUBMITTED_ROLES = (BlockRole.VALUE, BlockRole.REPEAT)

Env = Mapping[str, object]


@runtime_checkable
class RowCounting(Protocol):
    """A repeat block type that bounds the number of rows."""

    def max_rows(self, block: Block) -> int:
        """Return the maximum number of rows of ``block``."""
        ...

    def check_row_count(self, block: Block, count: int) -> None:
        """Raise ValueProblem unless ``count`` rows are allowed."""
        ...


@runtime_checkable
class ResultCoercing(Protocol):
    """A computed block type that converts an expression result to its stored form."""

    def coerce_result(self, block: Block, value: object) -> Any:
        """Return the stored form of ``value``, raising ValueProblem if invalid."""
        ...


@runtime_checkable
class OptionFiltering(Protocol):
    """A choice block type whose ``choice_filter`` depends on other values."""

    def option_values(self, block: Block) -> list[str]:
        """Return every option value of ``block``."""
        ...

    def allowed_options(self, block: Block, env: Mapping[str, object]) -> list[str]:
        """Return the option values that the block's choice filter allows."""
        ...


@runtime_checkable
class ValueFetching(Protocol):
    """A block type whose value is fetched or checked with the record's other values."""

    async def fetch_value(
        self,
        block: Block,
        submitted: Any,
        env: Mapping[str, object],
        context: ValueContext,
    ) -> Any:
        """Return the stored value, raising ValueProblem if it is invalid."""
        ...


async def normalize_submission(
    definition: Definition,
    registry: BlockRegistry,
    data: Mapping[str, Any],
    context: ValueContext,
    *,
    existing: Mapping[str, Any] | None = None,
    partial: bool = False,
) -> dict[str, Any]:
    """Check ``data`` against ``definition`` and return the record to store.

    ``existing`` is the stored data of the record being updated, or None on
    creation. With ``partial``, blocks missing from ``data`` keep their
    existing values, and an explicit null clears one. A repeat is replaced as
    a whole. Values of computed blocks are computed again. Assigned blocks,
    such as unique numbers, are assigned on creation and kept from
    ``existing`` on update, matching repeat rows by index. So a row added by
    an update, or an assigned block added after the record was created,
    stays without a value.

    Raises:
        SubmissionError: with every problem found, at paths of block ids and
            row indexes such as ``("trees", 2, "dbh")``.
        DefinitionError: the definition uses a block type that is not
            registered, or its expressions depend on each other in a cycle.
        ValueError: ``partial`` is set without ``existing``.
    """
    if partial and existing is None:
        raise ValueError(
            "partial=True merges onto the existing record; pass its stored data "
            "as existing."
        )
    plan = _plan(definition, registry)
    run = _Run(definition, context, existing is None)
    if not isinstance(data, Mapping):
        raise SubmissionError(
            [
                Problem(
                    (),
                    ErrorCode.INVALID_TYPE,
                    "Expected an object of block ids to values.",
                )
            ]
        )

    merged = _merge(plan, data, existing) if partial and existing is not None else data
    state = await _read_level(plan, merged, data, existing, (), run)
    await _evaluate_level(state, run)
    _check_level(state, run)
    problems = [p for p in run.problems if not run.is_hidden(p.path)]
    if problems:
        raise SubmissionError(problems)
    return state.stored()


def expression_env(
    definition: Definition, registry: BlockRegistry, stored: Mapping[str, Any]
) -> dict[str, Any]:
    """Return the values expressions see for a stored record, by block id.

    Every block that stores a value is present, with None when the record
    has no value for it. A repeat is a list of row mappings built the same
    way.

    Raises:
        DefinitionError: the definition uses a block type that is not
            registered.
    """
    return _stored_env(_plan(definition, registry), stored)


# Plans ------------------------------------------------------------------


@dataclass
class _Node:
    block: Block
    block_type: BlockType
    section: str | None
    rows: _LevelPlan | None = None

    @property
    def role(self) -> BlockRole:
        return self.block_type.role


@dataclass
class _LevelPlan:
    """Blocks stored in one mapping: the record, or a row of the repeat ``owner``."""

    owner: str | None
    nodes: list[_Node] = field(default_factory=list)
    """Every block of the level in definition order, sections flattened."""
    order: list[_Node] = field(default_factory=list)
    """The same blocks in evaluation order."""

    def stored_nodes(self) -> list[_Node]:
        return [node for node in self.nodes if node.role in _STORED_ROLES]


def _plan(definition: Definition, registry: BlockRegistry) -> _LevelPlan:
    root = _LevelPlan(None)
    unknown: list[Problem] = []
    _add_nodes(definition.blocks, root, None, registry, ("blocks",), unknown)
    if unknown:
        raise DefinitionError(unknown)
    rank = {
        block_id: i for i, block_id in enumerate(evaluation_order(definition, registry))
    }
    _sort_levels(root, rank)
    return root


def _add_nodes(
    blocks: Sequence[Block],
    level: _LevelPlan,
    section: str | None,
    registry: BlockRegistry,
    path: Path,
    unknown: list[Problem],
) -> None:
    for index, block in enumerate(blocks):
        block_path = (*path, index)
        block_type = registry.get(block.type)
        if block_type is None:
            unknown.append(
                Problem(
                    (*block_path, "type"),
                    ErrorCode.UNKNOWN_BLOCK_TYPE,
                    f"The block type {block.type!r} of block {block.id!r} is not "
                    "registered; install the plugin that provides it.",
                )
            )
            continue
        node = _Node(block, block_type, section)
        level.nodes.append(node)
        children_path = (*block_path, "children")
        if node.role is BlockRole.REPEAT:
            node.rows = _LevelPlan(block.id)
            _add_nodes(
                block.children, node.rows, None, registry, children_path, unknown
            )
        elif node.role is BlockRole.SECTION:
            _add_nodes(
                block.children, level, block.id, registry, children_path, unknown
            )


def _sort_levels(level: _LevelPlan, rank: Mapping[str, int]) -> None:
    level.order = sorted(level.nodes, key=lambda node: rank.get(node.block.id, 0))
    for node in level.nodes:
        if node.rows is not None:
            _sort_levels(node.rows, rank)


def _stored_env(level: _LevelPlan, stored: Mapping[str, Any]) -> dict[str, Any]:
    env: dict[str, Any] = {}
    for node in level.stored_nodes():
        value = stored.get(node.block.id)
        if node.rows is not None:
            rows = value if isinstance(value, list) else []
            env[node.block.id] = [
                _stored_env(node.rows, row) for row in rows if isinstance(row, Mapping)
            ]
        elif value is None:
            env[node.block.id] = None
        else:
            env[node.block.id] = node.block_type.to_expression(node.block, value)
    return env


# Run state --------------------------------------------------------------


class _Run:
    """State shared by every level of one submission."""

    def __init__(
        self, definition: Definition, context: ValueContext, create: bool
    ) -> None:
        self.definition = definition
        self.context = context
        self.create = create
        self.problems: list[Problem] = []
        self.hidden_paths: set[Path] = set()
        now = context.now
        self.limits = Limits(clock=lambda: now)

    def report(self, path: Path, code: ErrorCode, message: str) -> None:
        self.problems.append(Problem(path, code, message))

    def is_hidden(self, path: Path) -> bool:
        """Return whether ``path`` is a hidden block or lies inside one."""
        return any(path[:end] in self.hidden_paths for end in range(1, len(path) + 1))

    def evaluate(self, source: str, env: Env) -> object:
        """Evaluate ``source`` with ``env``, raising ExpressionError on failure."""
        return parse_cached(source).evaluate(env, limits=self.limits)

    def text(self, texts: Text) -> str:
        """Return ``texts`` in the submitter's language, else the definition's."""
        for language in (
            self.context.language,
            self.definition.default_language,
            DEFAULT_LANGUAGE,
        ):
            if language in texts:
                return texts[language]
        return next(iter(texts.values()), "")


@dataclass
class _LevelState:
    """The values of one level while the pipeline works on them."""

    plan: _LevelPlan
    prefix: Path
    existing: Mapping[str, Any]
    """Stored data of this level before the update, or empty on creation."""
    values: dict[str, Any] = field(default_factory=dict)
    """Stored forms by block id; repeats are in :attr:`rows` instead."""
    rows: dict[str, list[_LevelState]] = field(default_factory=dict)
    env: dict[str, object] = field(default_factory=dict)
    """Expression values of the level's own blocks."""
    outer: MutableMapping[str, object] = field(default_factory=dict)
    """Expression values of the enclosing levels."""
    index: int | None = None
    """1-based row number, for a row of a repeat."""
    hidden: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    """Blocks whose value was invalid, which get no further checks."""

    def path(self, block_id: str) -> Path:
        return (*self.prefix, block_id)

    def scope(self, extra: dict[str, object] | None = None) -> ChainMap[str, object]:
        """Return the env of an expression at this level."""
        maps: list[MutableMapping[str, object]] = [] if extra is None else [extra]
        if self.index is not None:
            maps.append({INDEX_KEY: self.index})
        return ChainMap(*maps, self.env, self.outer)

    def row_values(self, node: _Node) -> list[dict[str, object]]:
        return [dict(row.env) for row in self.rows.get(node.block.id, [])]

    def stored(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for node in self.plan.stored_nodes():
            block_id = node.block.id
            if block_id in self.hidden:
                continue
            if block_id in self.rows:
                result[block_id] = [row.stored() for row in self.rows[block_id]]
            elif self.values.get(block_id) is not None:
                result[block_id] = self.values[block_id]
        return result


# Reading and normalizing ------------------------------------------------


def _merge(
    plan: _LevelPlan, data: Mapping[str, Any], existing: Mapping[str, Any]
) -> dict[str, Any]:
    merged = {
        node.block.id: existing[node.block.id]
        for node in plan.stored_nodes()
        if node.role in _SUBMITTED_ROLES and node.block.id in existing
    }
    merged.update(data)
    return merged


async def _read_level(
    plan: _LevelPlan,
    values: Mapping[str, Any],
    submitted: Mapping[str, Any],
    existing: Mapping[str, Any] | None,
    prefix: Path,
    run: _Run,
) -> _LevelState:
    """Check the keys of ``submitted`` and normalize its values.

    ``values`` is ``submitted`` plus, on a partial update, the existing
    values of the blocks that were not submitted. Only keys of ``submitted``
    are normalized, because the others are stored forms already.
    """
    state = _LevelState(plan, prefix, existing or {})
    _check_keys(plan, submitted, prefix, run)
    for node in plan.nodes:
        block_id = node.block.id
        if node.role is BlockRole.ASSIGNED:
            state.values[block_id] = state.existing.get(block_id)
        if node.role not in _SUBMITTED_ROLES:
            continue
        value = values.get(block_id)
        if node.rows is not None:
            await _read_rows(state, node, value, block_id in submitted, run)
        elif value is None:
            state.values[block_id] = None
        elif block_id not in submitted:
            state.values[block_id] = value
        else:
            state.values[block_id] = await _normalize(state, node, value, run)
        if node.rows is None:
            stored = state.values[block_id]
            state.env[block_id] = _to_expression(node, stored)
    for node in plan.stored_nodes():
        state.env.setdefault(node.block.id, None)
    return state


def _check_keys(
    plan: _LevelPlan, submitted: Mapping[str, Any], prefix: Path, run: _Run
) -> None:
    nodes = {node.block.id: node for node in plan.nodes}
    for key in submitted:
        node = nodes.get(key) if isinstance(key, str) else None
        path = (*prefix, key) if isinstance(key, str | int) else prefix
        if node is None:
            run.report(path, ErrorCode.UNKNOWN_FIELD, _unknown_field(key, plan))
        elif node.role not in _SUBMITTED_ROLES:
            run.report(path, ErrorCode.READ_ONLY, _read_only(node))


def _unknown_field(key: object, plan: _LevelPlan) -> str:
    valid = [n.block.id for n in plan.nodes if n.role in _SUBMITTED_ROLES]
    listed = ", ".join(valid[:MAX_LISTED_FIELDS])
    if len(valid) > MAX_LISTED_FIELDS:
        listed += f" and {len(valid) - MAX_LISTED_FIELDS} more"
    where = "the record" if plan.owner is None else f"a row of {plan.owner!r}"
    if not valid:
        return f"Unknown field {key!r}; {where} has no fields to submit."
    return f"Unknown field {key!r} in {where}; expected one of {listed}."


def _read_only(node: _Node) -> str:
    name = f"The {node.block.type} block {node.block.id!r}"
    if node.role is BlockRole.COMPUTED:
        return f"{name} is computed by the server; leave it out."
    if node.role is BlockRole.ASSIGNED:
        return f"{name} is assigned by the server; leave it out."
    return f"{name} stores no value; leave it out."


async def _normalize(state: _LevelState, node: _Node, value: Any, run: _Run) -> Any:
    try:
        check_unicode(value, node.block.field_name)
        return await node.block_type.normalize(node.block, value, run.context)
    except ValueProblem as problem:
        run.problems.append(problem.to_problem(state.path(node.block.id)))
        state.failed.add(node.block.id)
        return None


async def _read_rows(
    state: _LevelState, node: _Node, value: Any, submitted: bool, run: _Run
) -> None:
    assert node.rows is not None
    block_id = node.block.id
    path = state.path(block_id)
    if value is None:
        return
    if not isinstance(value, list | tuple):
        run.report(
            path,
            ErrorCode.INVALID_TYPE,
            f"Expected a list of rows for the repeat {block_id!r}, each an object "
            "of block ids to values.",
        )
        state.failed.add(block_id)
        return
    if isinstance(node.block_type, RowCounting):
        # Checked before the rows are read, so an oversized list costs nothing.
        maximum = node.block_type.max_rows(node.block)
        if len(value) > maximum:
            run.report(
                path,
                ErrorCode.TOO_MANY,
                f"Expected at most {maximum} rows, got {len(value)}; remove rows.",
            )
            state.failed.add(block_id)
            return

    existing_rows = state.existing.get(block_id)
    if not isinstance(existing_rows, list):
        existing_rows = []
    rows = []
    for index, row in enumerate(value):
        row_path = (*path, index)
        if not isinstance(row, Mapping):
            run.report(
                row_path,
                ErrorCode.INVALID_TYPE,
                f"Expected each row of {block_id!r} to be an object of block ids "
                "to values.",
            )
            state.failed.add(block_id)
            continue
        old = existing_rows[index] if index < len(existing_rows) else None
        old_row = old if isinstance(old, Mapping) else None
        row_submitted = row if submitted else {}
        row_state = await _read_level(
            node.rows, row, row_submitted, old_row, row_path, run
        )
        row_state.index = index + 1
        rows.append(row_state)
    state.rows[block_id] = rows


def _to_expression(node: _Node, stored: Any) -> object:
    if stored is None:
        return None
    return node.block_type.to_expression(node.block, stored)


# Evaluating -------------------------------------------------------------


async def _evaluate_level(state: _LevelState, run: _Run) -> None:
    """Compute visibility, calculations, assigned values and rows in order."""
    for node in state.plan.order:
        block_id = node.block.id
        if not _is_visible(state, node, run):
            state.hidden.add(block_id)
            run.hidden_paths.add(state.path(block_id))
            if node.role in _STORED_ROLES:
                state.env[block_id] = None
            continue
        if node.role is BlockRole.COMPUTED:
            _compute(state, node, run)
        elif node.role is BlockRole.ASSIGNED:
            await _assign(state, node, run)
        elif isinstance(node.block_type, ValueFetching):
            if block_id not in state.failed:
                await _fetch(state, node, run)
        elif node.rows is not None:
            for row in state.rows.get(block_id, []):
                row.outer = state.scope()
                await _evaluate_level(row, run)
            state.env[block_id] = state.row_values(node)


async def _fetch(state: _LevelState, node: _Node, run: _Run) -> None:
    assert isinstance(node.block_type, ValueFetching)
    block_id = node.block.id
    try:
        stored = await node.block_type.fetch_value(
            node.block, state.values.get(block_id), state.scope(), run.context
        )
    except ValueProblem as problem:
        run.problems.append(problem.to_problem(state.path(block_id)))
        state.failed.add(block_id)
        return
    state.values[block_id] = stored
    state.env[block_id] = _to_expression(node, stored)


def _is_visible(state: _LevelState, node: _Node, run: _Run) -> bool:
    block = node.block
    if node.section is not None and node.section in state.hidden:
        return False
    if block.visible_if is None:
        return True
    try:
        result = run.evaluate(block.visible_if, state.scope())
    except ExpressionError as error:
        run.report(
            state.path(block.id),
            ErrorCode.INVALID,
            f"Evaluating visible_if of {block.id!r} failed: {error.message}",
        )
        return True
    return _condition(result, "visible_if", state, block, run)


def _condition(
    result: object, key: str, state: _LevelState, block: Block, run: _Run
) -> bool:
    """Return a visible_if or required_if result as a bool, with null as false."""
    if result is None or isinstance(result, bool):
        return bool(result)
    run.report(
        state.path(block.id),
        ErrorCode.INVALID,
        f"The {key} of {block.id!r} produced {result!r}, not true or false.",
    )
    return False


def _compute(state: _LevelState, node: _Node, run: _Run) -> None:
    block = node.block
    source = node.block_type.config_expressions(block).get("expression")
    if source is None:
        return
    path = state.path(block.id)
    try:
        result = run.evaluate(source, state.scope())
    except ExpressionError as error:
        run.report(
            path,
            ErrorCode.INVALID,
            f"Evaluating the expression of {block.id!r} failed: {error.message}",
        )
        state.failed.add(block.id)
        return
    stored: Any = result
    if isinstance(node.block_type, ResultCoercing):
        try:
            stored = node.block_type.coerce_result(block, result)
        except ValueProblem as problem:
            run.problems.append(problem.to_problem(path))
            state.failed.add(block.id)
            return
    state.values[block.id] = stored
    state.env[block.id] = _to_expression(node, stored)


async def _assign(state: _LevelState, node: _Node, run: _Run) -> None:
    block_id = node.block.id
    if run.create:
        # NOTE: the number is taken before the submission is fully checked, so
        # that later expressions can read it. A rejected submission leaves a gap.
        stored = await node.block_type.assign(node.block, run.context)
    else:
        stored = state.existing.get(block_id)
    state.values[block_id] = stored
    state.env[block_id] = _to_expression(node, stored)


# Checking ---------------------------------------------------------------


def _check_level(state: _LevelState, run: _Run) -> None:
    """Check required values, rules, choice filters and row counts."""
    for node in state.plan.nodes:
        block_id = node.block.id
        if block_id in state.hidden or block_id in state.failed:
            continue
        if node.role not in _STORED_ROLES:
            continue
        stored = _stored_value(state, node)
        if node.block_type.is_empty(stored):
            if _is_required(state, node, run):
                run.report(
                    state.path(block_id), ErrorCode.REQUIRED, "A value is required."
                )
            continue
        if node.rows is not None:
            _check_rows(state, node, run)
        _check_rules(state, node, run)
        _check_choice_filter(state, node, run)


def _stored_value(state: _LevelState, node: _Node) -> Any:
    if node.rows is not None:
        rows = state.rows.get(node.block.id)
        return None if rows is None else [row.stored() for row in rows]
    return state.values.get(node.block.id)


def _is_required(state: _LevelState, node: _Node, run: _Run) -> bool:
    block = node.block
    if block.required:
        return True
    if block.required_if is None:
        return False
    try:
        result = run.evaluate(block.required_if, state.scope())
    except ExpressionError as error:
        run.report(
            state.path(block.id),
            ErrorCode.INVALID,
            f"Evaluating required_if of {block.id!r} failed: {error.message}",
        )
        return False
    return _condition(result, "required_if", state, block, run)


def _check_rows(state: _LevelState, node: _Node, run: _Run) -> None:
    block = node.block
    rows = state.rows.get(block.id, [])
    path = state.path(block.id)
    if isinstance(node.block_type, RowCounting):
        try:
            node.block_type.check_row_count(block, len(rows))
        except ValueProblem as problem:
            run.problems.append(problem.to_problem(path))
    count_source = node.block_type.config_expressions(block).get("count")
    if count_source is not None:
        _check_row_count_expression(state, node, count_source, len(rows), run)
    for row in rows:
        _check_level(row, run)


def _check_row_count_expression(
    state: _LevelState, node: _Node, source: str, count: int, run: _Run
) -> None:
    path = state.path(node.block.id)
    try:
        expected = run.evaluate(source, state.scope())
    except ExpressionError as error:
        run.report(
            path,
            ErrorCode.INVALID,
            f"Evaluating the count of {node.block.id!r} failed: {error.message}",
        )
        return
    if expected is None:
        return
    if isinstance(expected, bool) or not isinstance(expected, int):
        run.report(
            path,
            ErrorCode.INVALID,
            f"The count expression produced {expected!r}, not a whole number.",
        )
        return
    expected_text = f"Expected {expected} rows, the result of the count {source}"
    if count < expected:
        run.report(path, ErrorCode.TOO_FEW, f"{expected_text}, got {count}; add rows.")
    elif count > expected:
        run.report(
            path, ErrorCode.TOO_MANY, f"{expected_text}, got {count}; remove rows."
        )


def _check_rules(state: _LevelState, node: _Node, run: _Run) -> None:
    block = node.block
    if not block.rules:
        return
    own_value = state.env.get(block.id)
    env = state.scope({SELF_KEY: own_value})
    for rule in block.rules:
        message = _rule_failure(rule, env, run)
        if message is not None:
            run.report(state.path(block.id), ErrorCode.RULE_FAILED, message)


def _rule_failure(rule: Rule, env: Env, run: _Run) -> str | None:
    try:
        result = run.evaluate(rule.expression, env)
    except ExpressionError as error:
        return f"The rule {rule.expression} failed: {error.message}"
    if result is True or result is None:
        return None
    if result is False:
        text = run.text(rule.message)
        return text or f"The value does not satisfy {rule.expression}."
    return f"The rule {rule.expression} produced {result!r}, not true or false."


def _check_choice_filter(state: _LevelState, node: _Node, run: _Run) -> None:
    block, block_type = node.block, node.block_type
    if CHOICE_FILTER_KEY not in block.config or not isinstance(
        block_type, OptionFiltering
    ):
        return
    stored = state.values.get(block.id)
    allowed = set(block_type.allowed_options(block, state.scope()))
    options = set(block_type.option_values(block))
    path = state.path(block.id)
    chosen: list[tuple[int | None, Any]] = (
        list(enumerate(stored)) if isinstance(stored, list) else [(None, stored)]
    )
    expected = ", ".join(sorted(allowed))
    hint = f"expected one of {expected}" if expected else "no option is available"
    for position, value in chosen:
        # A value that is no option is free text that allow_other accepted.
        # The filter applies to options only.
        if value in options and value not in allowed:
            item_path = path if position is None else (*path, position)
            run.report(
                item_path,
                ErrorCode.UNKNOWN_OPTION,
                f"The option {value!r} is not available for the other values "
                f"given; {hint}.",
            )
