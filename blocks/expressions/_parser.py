"""Pratt parser from tokens to an immutable syntax tree.

Each infix operator has a binding power, and an operator takes a right operand
only while the next operator binds tighter. Postfix ``.field`` and ``[index]``
bind tightest, then unary ``-``, ``* / %``, ``+ -``, ``in``, comparisons,
``not``, ``and`` and ``or``. Comparisons and ``in`` do not associate: the
parser rejects ``a < b < c`` instead of reading it as ``(a < b) < c``.

The parser recurses for every operand except the first operand of a chain
(``a`` in ``a + b + c`` or ``a.b.c``), which its loop consumes. It counts that
recursion against ``Limits.max_depth``, which also bounds the recursion of
the evaluator, because the evaluator walks chains in a loop too.
"""

from __future__ import annotations

import difflib
from typing import TypeVar

from ._ast import (
    Binary,
    Call,
    Index,
    ListLiteral,
    Literal,
    Logical,
    Member,
    Node,
    Reference,
    SelfValue,
    Unary,
)
from ._functions import FUNCTIONS
from ._lexer import Token, TokenKind, quote, tokenize
from ._limits import Limits
from .errors import ExpressionLimitError, ExpressionSyntaxError

_OR = 10
_AND = 20
_NOT_OPERAND = 30
_COMPARISON = 40
_MEMBERSHIP = 50
_ADDITIVE = 60
_MULTIPLICATIVE = 70
_NEGATION_OPERAND = 80

_INFIX_POWERS = {
    "or": _OR,
    "and": _AND,
    "=": _COMPARISON,
    "==": _COMPARISON,
    "!=": _COMPARISON,
    "<": _COMPARISON,
    "<=": _COMPARISON,
    ">": _COMPARISON,
    ">=": _COMPARISON,
    "in": _MEMBERSHIP,
    "not in": _MEMBERSHIP,
    "+": _ADDITIVE,
    "-": _ADDITIVE,
    "*": _MULTIPLICATIVE,
    "/": _MULTIPLICATIVE,
    "%": _MULTIPLICATIVE,
}
_NON_ASSOCIATIVE = frozenset({_COMPARISON, _MEMBERSHIP})
_NodeT = TypeVar("_NodeT", bound=Node)
_KEYWORD_LITERALS: dict[str, bool | None] = {"true": True, "false": False, "null": None}


def parse_tree(source: str, limits: Limits) -> Node:
    """Parse ``source`` into the root node of its syntax tree.

    Raises:
        ExpressionSyntaxError: the source is not a valid expression.
        ExpressionLimitError: the source is longer, has more nodes or nests
            deeper than ``limits`` allow.
    """
    if len(source) > limits.max_source_length:
        raise ExpressionLimitError(
            "max_source_length",
            limits.max_source_length,
            f"Expression is {len(source)} characters long, more than the limit of "
            f"{limits.max_source_length} (max_source_length). Shorten it or split it "
            "into calculation blocks.",
        )
    return _Parser(tokenize(source), limits).parse()


class _Parser:
    def __init__(self, tokens: list[Token], limits: Limits) -> None:
        self._tokens = tokens
        self._index = 0
        self._limits = limits
        self._nesting = 0
        self._node_count = 0

    def parse(self) -> Node:
        root = self._parse_expression(0)
        token = self._peek()
        if token.kind is not TokenKind.END:
            raise _unexpected("an operator or the end of the expression", token)
        return root

    # Token helpers --------------------------------------------------------

    def _peek(self, offset: int = 0) -> Token:
        index = min(self._index + offset, len(self._tokens) - 1)
        return self._tokens[index]

    def _advance(self) -> Token:
        token = self._tokens[self._index]
        if token.kind is not TokenKind.END:
            self._index += 1
        return token

    def _expect(self, text: str) -> Token:
        token = self._peek()
        if not token.is_symbol(text):
            raise _unexpected(quote(text), token)
        return self._advance()

    def _count(self, node: _NodeT) -> _NodeT:
        self._node_count += 1
        if self._node_count > self._limits.max_nodes:
            raise ExpressionLimitError(
                "max_nodes",
                self._limits.max_nodes,
                f"Expression has more than {self._limits.max_nodes} syntax tree nodes "
                f"(max_nodes) at position {node.position}. Split it into calculation "
                "blocks.",
                node.position,
            )
        return node

    # Grammar --------------------------------------------------------------

    def _parse_expression(self, min_power: int) -> Node:
        self._nesting += 1
        try:
            if self._nesting > self._limits.max_depth:
                position = self._peek().position
                raise ExpressionLimitError(
                    "max_depth",
                    self._limits.max_depth,
                    f"Expression nests deeper than the limit of "
                    f"{self._limits.max_depth} levels (max_depth) at position "
                    f"{position}. Split it into calculation blocks.",
                    position,
                )
            left = self._parse_prefix()
            previous_power: int | None = None
            while True:
                token = self._peek()
                if token.is_symbol(".") or token.is_symbol("["):
                    left = self._parse_postfix(left)
                    continue
                operator = self._infix_operator()
                if operator is None:
                    return left
                power = _INFIX_POWERS[operator]
                if power <= min_power:
                    return left
                if power in _NON_ASSOCIATIVE and previous_power == power:
                    raise _chained_error(operator, token)
                previous_power = power
                self._advance()
                if operator == "not in":
                    self._advance()
                right = self._parse_expression(power)
                if operator in ("and", "or"):
                    left = self._count(Logical(operator, left, right, token.position))
                else:
                    canonical = "=" if operator == "==" else operator
                    left = self._count(Binary(canonical, left, right, token.position))
        finally:
            self._nesting -= 1

    def _infix_operator(self) -> str | None:
        token = self._peek()
        if token.kind is TokenKind.OPERATOR:
            return token.text
        if token.kind is TokenKind.KEYWORD:
            if token.text in ("and", "or", "in"):
                return token.text
            if token.text == "not" and self._peek(1).is_symbol("in"):
                return "not in"
        return None

    def _parse_prefix(self) -> Node:
        token = self._advance()
        kind = token.kind
        if kind is TokenKind.NUMBER or kind is TokenKind.STRING:
            return self._count(Literal(token.value, token.position))
        if kind is TokenKind.BRACED_NAME:
            return self._count(Reference(token.text, token.position))
        if kind is TokenKind.NAME:
            if self._peek().is_symbol("("):
                return self._parse_call(token)
            return self._count(Reference(token.text, token.position))
        if kind is TokenKind.KEYWORD and token.text in _KEYWORD_LITERALS:
            return self._count(Literal(_KEYWORD_LITERALS[token.text], token.position))
        if token.is_symbol("not"):
            operand = self._parse_expression(_NOT_OPERAND)
            return self._count(Unary("not", operand, token.position))
        if token.is_symbol("-"):
            operand = self._parse_expression(_NEGATION_OPERAND)
            return self._count(Unary("-", operand, token.position))
        if token.is_symbol("("):
            inner = self._parse_expression(0)
            self._expect(")")
            return inner
        if token.is_symbol("["):
            items = self._parse_items("]")
            return self._count(ListLiteral(items, token.position))
        if token.is_symbol("."):
            return self._count(SelfValue(token.position))
        raise _unexpected("an expression", token)

    def _parse_postfix(self, target: Node) -> Node:
        token = self._advance()
        if token.is_symbol("["):
            index = self._parse_expression(0)
            self._expect("]")
            return self._count(Index(target, index, token.position))
        name_token = self._advance()
        if name_token.kind not in (
            TokenKind.NAME,
            TokenKind.BRACED_NAME,
            TokenKind.KEYWORD,
        ):
            raise _unexpected("a field name after '.'", name_token)
        if self._peek().is_symbol("("):
            raise ExpressionSyntaxError(
                f"Cannot call {quote(name_token.text)} at position "
                f"{name_token.position}: only functions can be called, and they "
                "are written without a prefix, like round(x, 2).",
                name_token.position,
            )
        return self._count(Member(target, name_token.text, token.position))

    def _parse_call(self, name_token: Token) -> Node:
        name = name_token.text
        spec = FUNCTIONS.get(name)
        if spec is None:
            suggestions = difflib.get_close_matches(name, FUNCTIONS, n=1)
            hint = f" Did you mean {suggestions[0]}()?" if suggestions else ""
            raise ExpressionSyntaxError(
                f"Unknown function {quote(name)} at position {name_token.position}."
                f"{hint}",
                name_token.position,
            )
        self._expect("(")
        arguments = self._parse_items(")")
        count = len(arguments)
        if count < spec.min_args or (
            spec.max_args is not None and count > spec.max_args
        ):
            raise ExpressionSyntaxError(
                f"Function {name}() at position {name_token.position} takes "
                f"{spec.describe_arity()}, got {count}.",
                name_token.position,
            )
        return self._count(Call(name, arguments, name_token.position))

    def _parse_items(self, closing: str) -> tuple[Node, ...]:
        items: list[Node] = []
        if self._peek().is_symbol(closing):
            self._advance()
            return ()
        while True:
            items.append(self._parse_expression(0))
            token = self._peek()
            if token.is_symbol(","):
                self._advance()
                continue
            if token.is_symbol(closing):
                self._advance()
                return tuple(items)
            raise _unexpected(f"',' or {quote(closing)}", token)


def _unexpected(expected: str, token: Token) -> ExpressionSyntaxError:
    return ExpressionSyntaxError(
        f"Expected {expected} at position {token.position}, got {token.describe()}.",
        token.position,
    )


def _chained_error(operator: str, token: Token) -> ExpressionSyntaxError:
    if operator in ("in", "not in"):
        subject = "Membership tests"
        example = "'a' in x and x in y"
    else:
        subject = "Comparisons"
        example = "a < b and b < c"
    return ExpressionSyntaxError(
        f"{subject} cannot be chained: {quote(operator)} at position {token.position} "
        f"follows another one. Combine them with 'and', like {example}.",
        token.position,
    )
