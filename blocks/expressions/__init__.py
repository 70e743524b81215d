"""Expression language for visibility, requirements, rules, calculations and filters.

Expressions are parsed by a hand-written tokenizer and Pratt parser into an
immutable syntax tree and evaluated by a tree walker, without Python's
``eval``, ``exec``, ``compile`` or ``ast``. Parsing and evaluation are bounded
by :class:`Limits`. The language is documented in docs/expressions.md.

Example:
    >>> from decimal import Decimal
    >>> evaluate("round(price * 3, 2)", {"price": Decimal("1.005")})
    Decimal('3.02')
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from ._ast import Member, Node, Reference, children, member_path, walk
from ._evaluator import INDEX_KEY, SELF_KEY, Evaluator
from ._functions import FUNCTIONS, FunctionSpec
from ._limits import DEFAULT_LIMITS, Limits
from ._parser import parse_tree
from .errors import (
    ExpressionError,
    ExpressionEvaluationError,
    ExpressionLimitError,
    ExpressionSyntaxError,
)

__all__ = [
    "FUNCTIONS",
    "INDEX_KEY",
    "SELF_KEY",
    "Expression",
    "ExpressionError",
    "ExpressionEvaluationError",
    "ExpressionLimitError",
    "ExpressionSyntaxError",
    "FunctionSpec",
    "Limits",
    "evaluate",
    "parse",
    "parse_cached",
]


@dataclass(frozen=True)
class Expression:
    """Parsed expression: its source and the root of its syntax tree.

    Instances are immutable and hashable, so they can be cached and shared
    between threads.
    """

    source: str
    root: Node

    def references(self) -> frozenset[str]:
        """Return every block id that the expression reads from the environment.

        Ids inside function arguments count. The self value ``.`` and the row
        number ``index()`` are not block ids and are not included. For
        ``trees.dbh`` only ``trees`` is included. See :meth:`reference_paths`.
        """
        return frozenset(
            node.name for node in walk(self.root) if isinstance(node, Reference)
        )

    def reference_paths(self) -> frozenset[tuple[str, ...]]:
        """Return the longest field paths read from references, like ``("trees", "x")``.

        A reference without field access gives a one-item path. Field access
        on something other than a reference, such as ``coalesce(a, b).x``,
        adds no path for ``.x``.
        """
        paths: set[tuple[str, ...]] = set()
        # Each stack entry records whether the node is the target of a field
        # access, because then it is part of a longer path that its parent adds.
        stack: list[tuple[Node, bool]] = [(self.root, False)]
        while stack:
            node, inside_member = stack.pop()
            if not inside_member:
                path = member_path(node)
                if path is not None:
                    paths.add(path)
            for child in children(node):
                stack.append((child, isinstance(node, Member)))
        return frozenset(paths)

    def evaluate(
        self, env: Mapping[str, object], *, limits: Limits | None = None
    ) -> object:
        """Evaluate the expression against ``env``, a mapping of block id to value.

        Unknown ids evaluate to null. The key ``"."`` contains the current
        block's value and ``"@index"`` the 1-based repeat row number.

        Raises:
            ExpressionEvaluationError: an operator or function got values it
                cannot handle.
            ExpressionLimitError: evaluation exceeded a step, time, string or
                list limit.
        """
        return Evaluator(env, limits or DEFAULT_LIMITS).evaluate(self.root)


def parse(source: str, *, limits: Limits | None = None) -> Expression:
    """Parse ``source`` into an :class:`Expression`.

    Raises:
        ExpressionSyntaxError: the source is invalid, calls an unknown
            function or passes the wrong number of arguments. ``position``
            is the 0-based offset of the problem.
        ExpressionLimitError: the source exceeds max_source_length, max_nodes
            or max_depth.
    """
    return Expression(source, parse_tree(source, limits or DEFAULT_LIMITS))


@functools.lru_cache(maxsize=1024)
def parse_cached(source: str, limits: Limits | None = None) -> Expression:
    """Parse ``source`` like :func:`parse`, reusing results for repeated sources.

    Errors are not cached, so an invalid source is parsed again every time.
    """
    return parse(source, limits=limits)


def evaluate(
    source_or_expression: str | Expression,
    env: Mapping[str, object],
    *,
    limits: Limits | None = None,
) -> object:
    """Parse (with caching) if needed, then evaluate against ``env``.

    Raises:
        ExpressionSyntaxError: ``source_or_expression`` is a string that is
            not a valid expression.
        ExpressionEvaluationError: evaluation failed.
        ExpressionLimitError: parsing or evaluation exceeded a limit.
    """
    if isinstance(source_or_expression, Expression):
        expression = source_or_expression
    else:
        expression = parse_cached(source_or_expression, limits)
    return expression.evaluate(env, limits=limits)
