"""Tree-walking evaluator with step, size and time budgets."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from decimal import Decimal

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
from ._lexer import quote
from ._limits import Limits
from ._values import (
    DECIMAL_CONTEXT,
    Number,
    compare,
    describe,
    is_number,
    list_limit_error,
    normalize,
    string_limit_error,
    to_decimal,
    type_name,
    values_equal,
)
from .errors import ExpressionError, ExpressionEvaluationError, ExpressionLimitError

SELF_KEY = "."
INDEX_KEY = "@index"
# Reading the clock costs far more than one step, so it is read every 16 steps.
TIMEOUT_CHECK_INTERVAL = 16

_ARITHMETIC = frozenset({"+", "-", "*", "/", "%"})
_ORDERING = frozenset({"<", "<=", ">", ">="})


class Evaluator:
    """Evaluate one syntax tree against one environment.

    An instance counts steps and time from its creation, so use a new one
    for every evaluation.
    """

    def __init__(self, env: Mapping[str, object], limits: Limits) -> None:
        self._env = env
        self._limits = limits
        self._steps = 0
        self._next_clock_check = TIMEOUT_CHECK_INTERVAL
        self._deadline = time.perf_counter() + limits.timeout_seconds

    # CallContext ------------------------------------------------------------

    @property
    def limits(self) -> Limits:
        """Limits of this evaluation."""
        return self._limits

    def charge_steps(self, count: int) -> None:
        """Count ``count`` steps and raise once the step or time budget is spent."""
        self._steps += count
        if self._steps > self._limits.max_steps:
            raise ExpressionLimitError(
                "max_steps",
                self._limits.max_steps,
                f"Expression evaluation took more than {self._limits.max_steps} steps "
                "(max_steps). Simplify the expression or split it into calculation "
                "blocks.",
            )
        if self._steps >= self._next_clock_check:
            self._next_clock_check = self._steps + TIMEOUT_CHECK_INTERVAL
            if time.perf_counter() > self._deadline:
                raise ExpressionLimitError(
                    "timeout_seconds",
                    self._limits.timeout_seconds,
                    "Expression evaluation timed out after "
                    f"{self._limits.timeout_seconds} seconds (timeout_seconds).",
                )

    def check_string(self, text: str) -> str:
        """Return ``text`` unless it is longer than ``max_string_length``."""
        if len(text) > self._limits.max_string_length:
            raise string_limit_error(self._limits.max_string_length)
        return text

    def check_list(self, items: list[object]) -> list[object]:
        """Return ``items`` unless it is longer than ``max_list_length``."""
        if len(items) > self._limits.max_list_length:
            raise list_limit_error(self._limits.max_list_length)
        return items

    def row_index(self) -> object:
        """Return the env value of ``"@index"``."""
        return self._env.get(INDEX_KEY)

    # Evaluation ---------------------------------------------------------------

    def evaluate(self, node: Node) -> object:
        """Return the value of ``node``.

        Raises:
            ExpressionEvaluationError: an operator or function got values it
                cannot handle. ``position`` points at the failing node.
            ExpressionLimitError: a step, time, string or list limit was exceeded.
        """
        # The first operands of a chain such as a + b + c or a.b.c are walked
        # in a loop, so only the other operands recurse. The parser bounds that
        # recursion by max_depth.
        chain: list[Binary | Logical | Member | Index] = []
        while isinstance(node, Binary | Logical | Member | Index):
            chain.append(node)
            node = node.target if isinstance(node, Member | Index) else node.left
        value = self._run(node, functools.partial(self._evaluate_operand, node))
        for link in reversed(chain):
            value = self._run(link, functools.partial(self._apply, link, value))
        return value

    def _run(self, node: Node, step: Callable[[], object]) -> object:
        self.charge_steps(1)
        try:
            return step()
        except ExpressionError as error:
            # The innermost node that failed sets the position, and outer
            # nodes keep it.
            if error.position is None:
                error.position = node.position
            raise

    def _apply(self, link: Binary | Logical | Member | Index, value: object) -> object:
        match link:
            case Binary(operator=operator, right=right):
                return self._binary(operator, value, self.evaluate(right))
            case Logical(operator=operator, right=right):
                left_value = _condition(operator, value)
                if operator == "and" and not left_value:
                    return False
                if operator == "or" and left_value:
                    return True
                return _condition(operator, self.evaluate(right))
            case Member(name=name):
                return self._member(value, name)
            case Index(index=index):
                return self._index(value, self.evaluate(index))

    def _evaluate_operand(self, node: Node) -> object:
        match node:
            case Literal(value=value):
                return value
            case Reference(name=name):
                return normalize(self._env.get(name))
            case SelfValue():
                return normalize(self._env.get(SELF_KEY))
            case ListLiteral(items=items):
                values = [self.evaluate(item) for item in items]
                return self.check_list(values)
            case Unary(operator=operator, operand=operand):
                return _unary(operator, self.evaluate(operand))
            case Call(name=name, arguments=arguments):
                spec = FUNCTIONS[name]
                if spec.lazy:
                    thunks = [functools.partial(self.evaluate, a) for a in arguments]
                    return spec.implementation(self, *thunks)
                values = [self.evaluate(argument) for argument in arguments]
                return spec.implementation(self, *values)
        raise AssertionError(f"Chain node {node!r} reached _evaluate_operand")

    def _member(self, target: object, name: str) -> object:
        if target is None:
            return None
        if isinstance(target, Mapping):
            return normalize(target.get(name))
        if isinstance(target, list | tuple):
            # A field of a list of rows is the list of that field of every row,
            # so sum(trees.dbh) adds up the dbh of every tree.
            self.charge_steps(len(target))
            if len(target) > self._limits.max_list_length:
                raise list_limit_error(self._limits.max_list_length)
            values: list[object] = []
            for number, row in enumerate(target):
                row = normalize(row)
                if row is None:
                    values.append(None)
                elif isinstance(row, Mapping):
                    values.append(normalize(row.get(name)))
                else:
                    raise ExpressionEvaluationError(
                        f"Cannot read field {quote(name)} of list item {number}, "
                        f"{describe(row)} ({type_name(row)}): only mappings have "
                        "fields."
                    )
            return values
        raise ExpressionEvaluationError(
            f"Cannot read field {quote(name)} of {describe(target)} "
            f"({type_name(target)}): only mappings and lists of mappings have fields."
        )

    def _index(self, target: object, index: object) -> object:
        if target is None or index is None:
            return None
        if isinstance(target, list | tuple):
            if isinstance(index, bool) or not isinstance(index, int):
                raise ExpressionEvaluationError(
                    f"A list index must be a whole number, got {describe(index)}."
                )
            if index < 0:
                raise ExpressionEvaluationError(
                    f"A list index must be 0 or more, got {index}. Indexes start at 0."
                )
            return normalize(target[index]) if index < len(target) else None
        if isinstance(target, Mapping):
            if not isinstance(index, str):
                raise ExpressionEvaluationError(
                    f"A mapping key must be a string, got {describe(index)}."
                )
            return normalize(target.get(index))
        raise ExpressionEvaluationError(
            f"Cannot index {describe(target)} ({type_name(target)}): only lists and "
            "mappings can be indexed."
        )

    def _binary(self, operator: str, left: object, right: object) -> object:
        if operator in _ARITHMETIC:
            return self._arithmetic(operator, left, right)
        if operator == "=":
            return values_equal(left, right)
        if operator == "!=":
            return not values_equal(left, right)
        if operator in _ORDERING:
            if left is None or right is None:
                return False
            order = compare(left, right, operator)
            return {"<": order < 0, "<=": order <= 0, ">": order > 0, ">=": order >= 0}[
                operator
            ]
        found = self._contains(right, left)
        return found if operator == "in" else not found

    def _contains(self, container: object, item: object) -> bool:
        if container is None:
            return False
        if isinstance(container, list | tuple):
            self.charge_steps(len(container))
            return any(values_equal(item, normalize(entry)) for entry in container)
        if isinstance(container, str):
            if item is None:
                return False
            if not isinstance(item, str):
                raise ExpressionEvaluationError(
                    f"Cannot test whether {describe(item)} is in a string: 'in' on a "
                    "string needs a string on its left."
                )
            return item in container
        raise ExpressionEvaluationError(
            f"'in' needs a list or a string on its right, got {describe(container)} "
            f"({type_name(container)})."
        )

    def _arithmetic(self, operator: str, left: object, right: object) -> object:
        if left is None or right is None:
            return None
        if operator == "+" and isinstance(left, str) and isinstance(right, str):
            if len(left) + len(right) > self._limits.max_string_length:
                raise string_limit_error(self._limits.max_string_length)
            return left + right
        if not (is_number(left) and is_number(right)):
            raise _arithmetic_type_error(operator, left, right)
        assert isinstance(left, int | Decimal) and isinstance(right, int | Decimal)
        if operator in ("/", "%") and right == 0:
            raise ExpressionEvaluationError(
                f"Division by zero: {describe(left)} {operator} {describe(right)}."
            )
        if isinstance(left, int) and isinstance(right, int) and operator != "/":
            return _integer_arithmetic(operator, left, right)
        return _decimal_arithmetic(operator, to_decimal(left), to_decimal(right))


def _condition(operator: str, value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    raise ExpressionEvaluationError(
        f"{quote(operator)} needs true, false or null on both sides, got "
        f"{describe(value)} ({type_name(value)})."
    )


def _unary(operator: str, value: object) -> object:
    if operator == "not":
        if value is None:
            return True
        if isinstance(value, bool):
            return not value
        raise ExpressionEvaluationError(
            "'not' needs true, false or null, got "
            f"{describe(value)} ({type_name(value)})."
        )
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return -value
    if isinstance(value, Decimal):
        return value.copy_negate()
    raise ExpressionEvaluationError(
        f"Cannot negate {describe(value)} ({type_name(value)}): '-' needs a number."
    )


def _integer_arithmetic(operator: str, left: int, right: int) -> int:
    if operator == "+":
        return left + right
    if operator == "-":
        return left - right
    if operator == "*":
        return left * right
    # The remainder takes the sign of the dividend, as Decimal's does, so
    # -7 % 2 is -1 for ints and Decimals alike.
    remainder = abs(left) % abs(right)
    return remainder if left >= 0 else -remainder


def _decimal_arithmetic(operator: str, left: Decimal, right: Decimal) -> Number:
    operations = {
        "+": DECIMAL_CONTEXT.add,
        "-": DECIMAL_CONTEXT.subtract,
        "*": DECIMAL_CONTEXT.multiply,
        "/": DECIMAL_CONTEXT.divide,
        "%": DECIMAL_CONTEXT.remainder,
    }
    try:
        return operations[operator](left, right)
    except ArithmeticError as error:
        raise ExpressionEvaluationError(
            f"Arithmetic failed: {describe(left)} {operator} {describe(right)} is "
            f"too large or undefined ({type(error).__name__})."
        ) from None


_VERBS = {
    "+": ("add", "and", "two numbers or two strings"),
    "-": ("subtract", "from", "two numbers"),
    "*": ("multiply", "by", "two numbers"),
    "/": ("divide", "by", "two numbers"),
    "%": ("take the remainder of", "divided by", "two numbers"),
}


def _arithmetic_type_error(
    operator: str, left: object, right: object
) -> ExpressionEvaluationError:
    verb, link, needed = _VERBS[operator]
    first, second = (right, left) if operator == "-" else (left, right)
    hint = ""
    if operator == "+" and (isinstance(left, str) or isinstance(right, str)):
        hint = " Use concat() to join strings with other values."
    elif type_name(left) in ("date", "datetime") or type_name(right) in (
        "date",
        "datetime",
    ):
        hint = " Use add_days() and days_between() for date arithmetic."
    return ExpressionEvaluationError(
        f"Cannot {verb} {describe(first)} {link} {describe(second)}: "
        f"{quote(operator)} needs {needed}.{hint}"
    )
