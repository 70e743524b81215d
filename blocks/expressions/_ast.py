"""Immutable syntax tree nodes.

Every node records ``position``, the 0-based offset of the source text it came
from, so evaluation errors can point at the operator or call that failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

LiteralValue = int | Decimal | str | bool | None


@dataclass(frozen=True, slots=True)
class Literal:
    """Number, string, boolean or null literal."""

    value: LiteralValue
    position: int


@dataclass(frozen=True, slots=True)
class ListLiteral:
    """List literal such as ``[1, 2, 3]``."""

    items: tuple[Node, ...]
    position: int


@dataclass(frozen=True, slots=True)
class Reference:
    """Block id resolved from the environment, written ``plot`` or ``${plot-id}``."""

    name: str
    position: int


@dataclass(frozen=True, slots=True)
class SelfValue:
    """The current block's own value, written ``.`` and read from env key ``"."``."""

    position: int


@dataclass(frozen=True, slots=True)
class Member:
    """Field access ``target.name`` on a mapping, or on every row of a list."""

    target: Node
    name: str
    position: int


@dataclass(frozen=True, slots=True)
class Index:
    """Index access ``target[index]``: a 0-based list index or a mapping key."""

    target: Node
    index: Node
    position: int


@dataclass(frozen=True, slots=True)
class Unary:
    """Prefix operator: ``-`` or ``not``."""

    operator: str
    operand: Node
    position: int


@dataclass(frozen=True, slots=True)
class Binary:
    """Arithmetic, comparison or membership operator."""

    operator: str
    left: Node
    right: Node
    position: int


@dataclass(frozen=True, slots=True)
class Logical:
    """Short-circuit ``and`` or ``or``."""

    operator: str
    left: Node
    right: Node
    position: int


@dataclass(frozen=True, slots=True)
class Call:
    """Call of a registered function. The parser has checked the name and arity."""

    name: str
    arguments: tuple[Node, ...]
    position: int


Node = (
    Literal
    | ListLiteral
    | Reference
    | SelfValue
    | Member
    | Index
    | Unary
    | Binary
    | Logical
    | Call
)


def children(node: Node) -> tuple[Node, ...]:
    """Return the direct sub-expressions of ``node``, left to right."""
    match node:
        case ListLiteral(items=items):
            return items
        case Call(arguments=arguments):
            return arguments
        case Member(target=target):
            return (target,)
        case Index(target=target, index=index):
            return (target, index)
        case Unary(operand=operand):
            return (operand,)
        case Binary(left=left, right=right) | Logical(left=left, right=right):
            return (left, right)
        case _:
            return ()


def walk(root: Node) -> Iterator[Node]:
    """Yield every node of the tree, parents before children, without recursion."""
    stack: list[Node] = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(children(node)))


def member_path(node: Node) -> tuple[str, ...] | None:
    """Return ``("trees", "dbh")`` for ``trees.dbh``, or None for other nodes.

    Only chains of field accesses that start at a reference form a path.
    """
    names: list[str] = []
    while isinstance(node, Member):
        names.append(node.name)
        node = node.target
    if not isinstance(node, Reference):
        return None
    names.append(node.name)
    return tuple(reversed(names))
