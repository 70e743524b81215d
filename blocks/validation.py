"""Validation of a parsed definition against the registered block types.

:func:`validate_definition` returns every problem of a definition, each at
the path of the offending key in the input, such as
``("blocks", 3, "children", 0, "config", "min")``, so a designer front end
can point at it. The checks need the registry, because block types decide
which configs are valid and which blocks store values.

Blocks share a *level* when their values are stored in the same mapping and
appear as fields of the same GraphQL type: the record, or one row of a
repeat. Section children belong to the section's level. Expressions may
refer to blocks of their own level and of every enclosing level.
"""

from __future__ import annotations

import dataclasses
import difflib
import heapq
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from blocks.base import BlockRole, BlockType, ConfigContext, problems_at
from blocks.definition import DEFAULT_LANGUAGE, Block, Definition
from blocks.errors import DefinitionError, ErrorCode, Path, Problem
from blocks.expressions import Expression, ExpressionError, parse_cached
from blocks.names import check_field_name
from blocks.registry import BlockRegistry

logger = logging.getLogger(__name__)

MAX_DEPTH = 8
"""Maximum nesting of blocks: a top-level block is at depth 1."""

MAX_BLOCKS = 500
"""Maximum number of blocks in one definition, counting nested ones."""

OPTION_REFERENCE = "option"
"""The name under which a ``choice_filter`` reads the option being tested."""

CHOICE_FILTER_KEY = "choice_filter"

_NO_FIELD_ROLES = (BlockRole.DISPLAY, BlockRole.SECTION)
_SERVER_VALUE_ROLES = (BlockRole.COMPUTED, BlockRole.ASSIGNED)


def validate_definition(
    definition: Definition, registry: BlockRegistry, context: ConfigContext
) -> list[Problem]:
    """Check ``definition`` against ``registry`` and return every problem found.

    An empty list means the definition can be saved. When the definition has
    more than :data:`MAX_BLOCKS` blocks, only that problem is returned.
    ``context.languages`` and ``context.block_ids`` default to the
    definition's own when they are empty.
    """
    count = sum(1 for _ in _iterate_blocks(definition.blocks))
    if count > MAX_BLOCKS:
        return [
            Problem(
                ("blocks",),
                ErrorCode.TOO_MANY,
                f"The definition has {count} blocks; the maximum is {MAX_BLOCKS}. "
                "Split it into several apps linked by lookup blocks.",
            )
        ]

    problems: list[Problem] = []
    tree = _build_tree(definition, registry, problems)
    context = dataclasses.replace(
        context,
        languages=context.languages or definition.languages,
        block_ids=context.block_ids or frozenset(tree.entries),
    )
    problems.extend(_check_languages_declared(definition))
    for entry in tree.entries.values():
        block_problems = _check_block(entry, definition, registry, context)
        problems.extend(block_problems)
        reported = {problem.path for problem in block_problems}
        problems.extend(_check_expressions(entry, tree, reported))
    problems.extend(_check_cycles(tree))
    return problems


def check_definition(
    definition: Definition, registry: BlockRegistry, context: ConfigContext
) -> None:
    """Raise :class:`DefinitionError` unless ``definition`` is valid.

    Raises:
        DefinitionError: with every problem :func:`validate_definition` found.
    """
    problems = validate_definition(definition, registry, context)
    if problems:
        raise DefinitionError(problems)


def evaluation_order(definition: Definition, registry: BlockRegistry) -> list[str]:
    """Return every block id in the order the submission pipeline computes them.

    A block comes after the blocks its ``visible_if`` and, for computed
    blocks, its config expressions refer to. A repeat comes after the blocks
    of its own level that expressions inside its rows refer to. Otherwise
    definition order is kept.

    Raises:
        DefinitionError: the dependencies form a cycle.
    """
    tree = _build_tree(definition, registry, [])
    cycle_problems = _check_cycles(tree)
    if cycle_problems:
        raise DefinitionError(cycle_problems)
    return _topological_order(tree)


# The block tree ---------------------------------------------------------


@dataclass
class _Level:
    """Blocks stored in one mapping: the record, or a row of the repeat ``owner``."""

    owner: str | None
    parent: _Level | None
    entries: dict[str, _Entry] = field(default_factory=dict)
    field_names: dict[str, Path] = field(default_factory=dict)

    def chain(self) -> Iterator[_Level]:
        level: _Level | None = self
        while level is not None:
            yield level
            level = level.parent


@dataclass
class _Entry:
    block: Block
    path: Path
    level: _Level
    block_type: BlockType | None
    section: str | None
    """Id of the innermost section of the same level that contains the block."""
    depth: int
    rows: _Level | None = None
    """The level of the rows, for a repeat."""

    @property
    def role(self) -> BlockRole | None:
        return self.block_type.role if self.block_type is not None else None


@dataclass
class _Tree:
    root: _Level
    entries: dict[str, _Entry]
    """First block with each id, in definition order."""


def _iterate_blocks(blocks: tuple[Block, ...]) -> Iterator[Block]:
    stack = list(reversed(blocks))
    while stack:
        block = stack.pop()
        yield block
        stack.extend(reversed(block.children))


def _build_tree(
    definition: Definition, registry: BlockRegistry, problems: list[Problem]
) -> _Tree:
    """Index the blocks by id and level, reporting depth, id and name clashes."""
    tree = _Tree(_Level(None, None), {})
    _add_blocks(
        definition.blocks, ("blocks",), tree.root, None, 1, tree, registry, problems
    )
    return tree


def _add_blocks(
    blocks: tuple[Block, ...],
    path: Path,
    level: _Level,
    section: str | None,
    depth: int,
    tree: _Tree,
    registry: BlockRegistry,
    problems: list[Problem],
) -> None:
    for index, block in enumerate(blocks):
        block_path = (*path, index)
        if depth > MAX_DEPTH:
            problems.append(
                Problem(
                    block_path,
                    ErrorCode.TOO_MANY,
                    f"Blocks nest {depth} levels deep here; the maximum is "
                    f"{MAX_DEPTH}. Move this block out of some of its containers.",
                )
            )
            continue
        block_type = registry.get(block.type)
        entry = _Entry(block, block_path, level, block_type, section, depth)
        _add_entry(entry, tree, problems)

        child_level, child_section = level, section
        if entry.role is BlockRole.REPEAT:
            child_level, child_section = _Level(block.id, level), None
            entry.rows = child_level
        elif entry.role is BlockRole.SECTION:
            child_section = block.id
        _add_blocks(
            block.children,
            (*block_path, "children"),
            child_level,
            child_section,
            depth + 1,
            tree,
            registry,
            problems,
        )


def _add_entry(entry: _Entry, tree: _Tree, problems: list[Problem]) -> None:
    block = entry.block
    first = tree.entries.get(block.id)
    if first is not None:
        problems.append(
            Problem(
                (*entry.path, "id"),
                ErrorCode.DUPLICATE_ID,
                f"The block id {block.id!r} is used by both {_format(first.path)} "
                f"and {_format(entry.path)}; give each block a unique id.",
            )
        )
        return
    tree.entries[block.id] = entry
    entry.level.entries[block.id] = entry

    if entry.role in _NO_FIELD_ROLES:
        return
    name_path = (*entry.path, "name" if block.name else "id")
    fault = check_field_name(block.field_name)
    if fault is not None:
        problems.append(Problem(name_path, ErrorCode.INVALID_NAME, fault))
        return
    other = entry.level.field_names.get(block.field_name)
    if other is not None:
        problems.append(
            Problem(
                name_path,
                ErrorCode.INVALID_NAME,
                f"The field name {block.field_name!r} is already used by "
                f"{_format(other)}, which is stored in the same "
                f"{_describe_level(entry.level)}; rename one of them.",
            )
        )
        return
    entry.level.field_names[block.field_name] = entry.path


def _format(path: Path) -> str:
    return ".".join(str(part) for part in path)


def _describe_level(level: _Level) -> str:
    if level.owner is None:
        return "record"
    return f"row of the repeat {level.owner!r}"


# Per-block checks -------------------------------------------------------


def _check_block(
    entry: _Entry,
    definition: Definition,
    registry: BlockRegistry,
    context: ConfigContext,
) -> list[Problem]:
    block, path, block_type = entry.block, entry.path, entry.block_type
    problems = _check_texts(block, path, definition.languages)
    if block_type is None:
        problems.append(_unknown_type(block, path, registry))
        return problems

    is_container = block_type.role in (BlockRole.SECTION, BlockRole.REPEAT)
    if block.children and not is_container:
        problems.append(
            Problem(
                (*path, "children"),
                ErrorCode.INVALID,
                f"A {block.type} block cannot have children; only section and "
                "repeat blocks can. Move the children into a section or repeat.",
            )
        )
    if is_container and not block.children:
        problems.append(
            Problem(
                path,
                ErrorCode.INVALID,
                f"The {block.type} block {block.id!r} has no children; add at "
                "least one block to it or remove it.",
            )
        )
    problems.extend(_check_requirement(block, block_type, path))
    problems.extend(_check_config(block, block_type, path, context))
    return problems


def _unknown_type(block: Block, path: Path, registry: BlockRegistry) -> Problem:
    names = registry.names()
    matches = difflib.get_close_matches(block.type, names, n=3)
    if matches:
        hint = "Did you mean " + " or ".join(repr(m) for m in matches) + "?"
    else:
        hint = (
            "Install the plugin that provides it, or use one of: "
            + ", ".join(names)
            + "."
        )
    return Problem(
        (*path, "type"),
        ErrorCode.UNKNOWN_BLOCK_TYPE,
        f"Unknown block type {block.type!r}. {hint}",
    )


def _check_requirement(
    block: Block, block_type: BlockType, path: Path
) -> list[Problem]:
    role = block_type.role
    if role in _NO_FIELD_ROLES:
        reason = f"A {block.type} block stores no value"
    elif role in _SERVER_VALUE_ROLES:
        reason = f"The server sets the value of a {block.type} block"
    else:
        return []
    problems = []
    for key, present in (
        ("required", block.required),
        ("required_if", block.required_if is not None),
    ):
        if present:
            problems.append(
                Problem(
                    (*path, key),
                    ErrorCode.INVALID,
                    f"{reason}, so it cannot have {key}; remove it.",
                )
            )
    if block.rules and role in _NO_FIELD_ROLES:
        problems.append(
            Problem(
                (*path, "rules"),
                ErrorCode.INVALID,
                f"{reason}, so it cannot have rules; move them to the blocks "
                "whose values they check.",
            )
        )
    return problems


def _check_config(
    block: Block, block_type: BlockType, path: Path, context: ConfigContext
) -> list[Problem]:
    try:
        problems = block_type.validate_config(block, context)
    except Exception as error:
        # A block type's own bug must not turn a bad config into a server
        # error, and the designer still needs to learn which block failed.
        logger.exception(
            "Block type %r failed while checking the config of block %r",
            block.type,
            block.id,
        )
        problems = [
            Problem(
                (),
                ErrorCode.INVALID_CONFIG,
                f"The {block.type} block type failed to check this config "
                f"({type(error).__name__}: {error}); check the config values.",
            )
        ]
    return problems_at((*path, "config"), problems)


def _check_texts(block: Block, path: Path, languages: tuple[str, ...]) -> list[Problem]:
    if not languages:
        return []
    texts: list[tuple[Path, Mapping[str, str]]] = [
        ((*path, "label"), block.label),
        ((*path, "hint"), block.hint),
    ]
    for index, rule in enumerate(block.rules):
        texts.append(((*path, "rules", index, "message"), rule.message))
    allowed = ", ".join(languages)
    problems = []
    for text_path, text in texts:
        for language in text:
            if language == DEFAULT_LANGUAGE or language in languages:
                continue
            problems.append(
                Problem(
                    (*text_path, language),
                    ErrorCode.INVALID,
                    f"The language {language!r} is not declared in the "
                    f"definition's languages ({allowed}); add it there or use "
                    "one of those.",
                )
            )
    return problems


def _check_languages_declared(definition: Definition) -> list[Problem]:
    default = definition.default_language
    if not definition.languages or default == DEFAULT_LANGUAGE:
        return []
    if default in definition.languages:
        return []
    return [
        Problem(
            ("default_language",),
            ErrorCode.INVALID,
            f"The default language {default!r} is not one of the definition's "
            f"languages ({', '.join(definition.languages)}).",
        )
    ]


# Expressions ------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """One expression of a block, with the key path where it is written."""

    path: Path
    key: str
    text: str
    orders_evaluation: bool
    """Whether the pipeline must compute the referenced blocks first."""


def _expression_sources(entry: _Entry) -> list[_Source]:
    block, path = entry.block, entry.path
    sources = []
    if block.visible_if is not None:
        sources.append(
            _Source((*path, "visible_if"), "visible_if", block.visible_if, True)
        )
    if block.required_if is not None:
        sources.append(
            _Source((*path, "required_if"), "required_if", block.required_if, False)
        )
    for index, rule in enumerate(block.rules):
        sources.append(
            _Source(
                (*path, "rules", index, "expression"), "rules", rule.expression, False
            )
        )
    if entry.block_type is None:
        return sources
    # A block that fetches its value reads the record's values in its config
    # expressions, so those values are computed first.
    computed = entry.role is BlockRole.COMPUTED or callable(
        getattr(entry.block_type, "fetch_value", None)
    )
    for key, text in _config_expressions(entry.block_type, block).items():
        sources.append(_Source((*path, "config", key), key, text, computed))
    return sources


def _config_expressions(block_type: BlockType, block: Block) -> Mapping[str, str]:
    try:
        expressions = block_type.config_expressions(block)
    except Exception:
        # An invalid config can break a block type's lookup of its
        # expressions; validate_config reports the config itself.
        logger.debug(
            "Block type %r could not list the expressions of block %r",
            block.type,
            block.id,
            exc_info=True,
        )
        return {}
    return {k: v for k, v in expressions.items() if isinstance(v, str)}


def _parsed(source: _Source) -> Expression | Problem:
    try:
        return parse_cached(source.text)
    except ExpressionError as error:
        # The parser's messages state the 0-based position themselves.
        return Problem(
            source.path,
            ErrorCode.INVALID_EXPRESSION,
            f"Invalid expression in {source.key}: {error.message}",
        )


def _check_expressions(
    entry: _Entry, tree: _Tree, reported: set[Path]
) -> list[Problem]:
    """Check that each expression parses and refers to blocks in scope.

    A syntax error at a path in ``reported`` is left out, because the block
    type's config check already reported it there.
    """
    problems: list[Problem] = []
    for source in _expression_sources(entry):
        parsed = _parsed(source)
        if isinstance(parsed, Problem):
            if parsed.path not in reported:
                problems.append(parsed)
            continue
        for reference_path in sorted(parsed.reference_paths()):
            fault = _reference_fault(reference_path, source, entry, tree)
            if fault is not None:
                problems.append(
                    Problem(source.path, ErrorCode.UNKNOWN_REFERENCE, fault)
                )
    return problems


def _reference_fault(
    reference_path: tuple[str, ...], source: _Source, entry: _Entry, tree: _Tree
) -> str | None:
    head = reference_path[0]
    if head == OPTION_REFERENCE and source.key == CHOICE_FILTER_KEY:
        return None
    target = _resolve(head, entry.level)
    if target is None:
        return _out_of_scope(head, source, entry, tree)
    if target.role in _NO_FIELD_ROLES:
        return (
            f"{source.key} refers to {head!r}, a {target.block.type} block, "
            "which stores no value; refer to a block that does."
        )
    return _member_fault(reference_path, target, source)


def _member_fault(
    reference_path: tuple[str, ...], target: _Entry, source: _Source
) -> str | None:
    """Check the fields read from repeat rows, as ``dbh`` in ``trees.dbh``.

    Field access on other values, such as ``location.lat`` on a geopoint, is
    left to evaluation, because only the block type defines their shape.
    """
    for name in reference_path[1:]:
        rows = target.rows
        if rows is None:
            return None
        child = rows.entries.get(name)
        if child is None or child.role in _NO_FIELD_ROLES:
            fields = ", ".join(
                i for i, e in rows.entries.items() if e.role not in _NO_FIELD_ROLES
            )
            return (
                f"{source.key} refers to {'.'.join(reference_path)}, but the rows "
                f"of the repeat {target.block.id!r} have no field {name!r}; their "
                f"fields are {fields}."
            )
        target = child
    return None


def _resolve(block_id: str, level: _Level) -> _Entry | None:
    for scope in level.chain():
        entry = scope.entries.get(block_id)
        if entry is not None:
            return entry
    return None


def _out_of_scope(head: str, source: _Source, entry: _Entry, tree: _Tree) -> str:
    target = tree.entries.get(head)
    if target is not None and target.level.owner is not None:
        owner = target.level.owner
        return (
            f"{source.key} refers to {head!r}, which is stored in the rows of "
            f"the repeat {owner!r} and is not visible from here; use "
            f"{owner}.{head} for the list of its values."
        )
    visible = sorted(i for scope in entry.level.chain() for i in scope.entries)
    matches = difflib.get_close_matches(head, visible, n=3)
    hint = (
        (" Did you mean " + " or ".join(repr(m) for m in matches) + "?")
        if matches
        else ""
    )
    return f"{source.key} refers to {head!r}, which is not a block id.{hint}"


# Dependencies -----------------------------------------------------------


@dataclass(frozen=True)
class _Edge:
    """``source`` needs ``target`` computed first, because of ``cause``."""

    source: str
    target: str
    cause: _Source


def _dependencies(tree: _Tree) -> dict[str, list[_Edge]]:
    """Return, for each block id, the blocks of its level it must wait for."""
    edges: dict[str, list[_Edge]] = {block_id: [] for block_id in tree.entries}
    for entry in tree.entries.values():
        if entry.section is not None:
            section_entry = tree.entries[entry.section]
            cause = _Source(section_entry.path, "section", "", True)
            edges[entry.block.id].append(_Edge(entry.block.id, entry.section, cause))
        for source in _expression_sources(entry):
            if not source.orders_evaluation:
                continue
            parsed = _parsed(source)
            if isinstance(parsed, Problem):
                continue
            for reference in parsed.references():
                edge = _edge_for(entry, reference, source)
                if edge is not None:
                    edges[edge.source].append(edge)
    return edges


def _edge_for(entry: _Entry, head: str, source: _Source) -> _Edge | None:
    """Return the edge at the level of ``head`` that ``entry``'s reference adds.

    A reference from inside a repeat row to a block of an enclosing level
    makes the repeat itself, at that level, wait for the block.
    """
    waiting = entry.block.id
    for scope in entry.level.chain():
        target = scope.entries.get(head)
        if target is not None:
            return _Edge(waiting, head, source)
        if scope.owner is not None:
            waiting = scope.owner
    return None


def _check_cycles(tree: _Tree) -> list[Problem]:
    edges = _dependencies(tree)
    problems = []
    for cycle in _find_cycles(edges):
        first = cycle[0]
        names = " -> ".join([*(edge.source for edge in cycle), first.source])
        if all(edge.cause.key not in ("visible_if", "section") for edge in cycle):
            message = f"Calculation cycle: {names}."
        else:
            message = (
                f"Visibility cycle: {names}. A visible_if condition cannot "
                "depend on its own block, directly or through other blocks."
            )
        problems.append(
            Problem(first.cause.path, ErrorCode.INVALID_EXPRESSION, message)
        )
    return problems


def _find_cycles(edges: Mapping[str, list[_Edge]]) -> list[list[_Edge]]:
    """Return one cycle of edges per strongly connected component that has one."""
    cycles = []
    for component in _strongly_connected(edges):
        members = set(component)
        start = component[0]
        cycle = _cycle_through(start, members, edges)
        if cycle:
            cycles.append(cycle)
    return cycles


def _cycle_through(
    start: str, members: set[str], edges: Mapping[str, list[_Edge]]
) -> list[_Edge]:
    """Return a path of edges from ``start`` back to it, inside ``members``."""
    trail: list[_Edge] = []
    seen = {start}
    stack = [iter(edges[start])]
    while stack:
        edge = next(stack[-1], None)
        if edge is None:
            stack.pop()
            if trail:
                trail.pop()
            continue
        if edge.target not in members:
            continue
        if edge.target == start:
            return [*trail, edge]
        if edge.target in seen:
            continue
        seen.add(edge.target)
        trail.append(edge)
        stack.append(iter(edges[edge.target]))
    return []


def _strongly_connected(edges: Mapping[str, list[_Edge]]) -> list[list[str]]:
    """Return the strongly connected components, by Tarjan's algorithm, iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            edge = next(successors, None)
            if edge is not None:
                target = edge.target
                if target not in index:
                    index[target] = low[target] = counter
                    counter += 1
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(edges[target])))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                has_self_loop = any(e.target == node for e in edges[node])
                if len(component) > 1 or has_self_loop:
                    components.append(list(reversed(component)))
    return components


def _topological_order(tree: _Tree) -> list[str]:
    """Order ids so dependencies come first, else in definition order (Kahn)."""
    edges = _dependencies(tree)
    position = {block_id: i for i, block_id in enumerate(tree.entries)}
    waiting = {block_id: {e.target for e in out} for block_id, out in edges.items()}
    dependents: dict[str, list[str]] = {block_id: [] for block_id in edges}
    for block_id, targets in waiting.items():
        for target in targets:
            dependents[target].append(block_id)
    ready = [position[b] for b, targets in waiting.items() if not targets]
    heapq.heapify(ready)
    ids = list(tree.entries)
    order = []
    while ready:
        block_id = ids[heapq.heappop(ready)]
        order.append(block_id)
        for dependent in dependents[block_id]:
            waiting[dependent].discard(block_id)
            if not waiting[dependent]:
                heapq.heappush(ready, position[dependent])
    return order
