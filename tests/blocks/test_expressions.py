"""Parsing, operators, null semantics and references of the expression language."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from blocks.errors import AppgraphError
from blocks.expressions import (
    Expression,
    ExpressionError,
    ExpressionEvaluationError,
    ExpressionLimitError,
    ExpressionSyntaxError,
    Limits,
    evaluate,
    parse,
    parse_cached,
)
from blocks.expressions._ast import Binary


def run(source: str, **env: object) -> object:
    return evaluate(source, env)


# Literals -------------------------------------------------------------------


def test_integer_literal_is_int() -> None:
    value = run("42")
    assert value == 42
    assert type(value) is int


def test_decimal_literal_is_decimal() -> None:
    value = run("3.50")
    assert type(value) is Decimal
    assert str(value) == "3.50"


def test_decimal_addition_is_exact() -> None:
    assert run("0.1 + 0.2") == Decimal("0.3")
    assert run("0.1 + 0.2 = 0.3") is True


def test_big_integer_arithmetic_is_exact() -> None:
    assert run("12345678901234567890 + 1") == 12345678901234567891
    assert run("99999999999999999999 * 99999999999999999999") == (10**20 - 1) ** 2


def test_string_literals_and_escapes() -> None:
    assert run("'it\\'s'") == "it's"
    assert run('"say \\"hi\\""') == 'say "hi"'
    assert run("'a\\nb\\tc\\\\d\\/'") == "a\nb\tc\\d/"
    assert run("'\\u00e9'") == "\u00e9"
    assert run('"single \' inside"') == "single ' inside"


def test_keyword_literals() -> None:
    assert run("true") is True
    assert run("false") is False
    assert run("null") is None


def test_list_literal() -> None:
    assert run("[1, 'a', null, [2]]") == [1, "a", None, [2]]
    assert run("[]") == []


# Syntax errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "position", "message"),
    [
        (
            "round(a, (b + 2)",
            16,
            "Expected ',' or ')' at position 16, got end of expression.",
        ),
        ("(1 + 2", 6, "Expected ')' at position 6, got end of expression."),
        ("", 0, "Expected an expression at position 0, got end of expression."),
        ("1 +", 3, "Expected an expression at position 3, got end of expression."),
        (
            "a b",
            2,
            "Expected an operator or the end of the expression at position 2, "
            "got name 'b'.",
        ),
        ("* 2", 0, "Expected an expression at position 0, got '*'."),
        ("[1, 2", 5, "Expected ',' or ']' at position 5, got end of expression."),
        (
            "a.",
            2,
            "Expected a field name after '.' at position 2, got end of expression.",
        ),
        ("a.1", 2, "Expected a field name after '.' at position 2, got number 1."),
    ],
)
def test_syntax_error_message_and_position(
    source: str, position: int, message: str
) -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse(source)
    assert caught.value.position == position
    assert str(caught.value) == message


def test_chained_comparison_is_syntax_error() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse("a < b < c")
    assert caught.value.position == 6
    assert str(caught.value).startswith(
        "Comparisons cannot be chained: '<' at position 6"
    )
    assert "a < b and b < c" in str(caught.value)


def test_chained_equality_is_syntax_error() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse("a = b = c")
    assert caught.value.position == 6


def test_chained_membership_is_syntax_error() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse("a in b in c")
    assert caught.value.position == 7
    assert str(caught.value).startswith("Membership tests cannot be chained")


@pytest.mark.parametrize(
    ("source", "position", "hint"),
    [
        ("!a", 0, "Use 'not' for negation"),
        ("a && b", 2, "Use 'and'"),
        ("a || b", 2, "Use 'or'"),
        ("a ? b", 2, ""),
        ("$a", 0, "${block-id}"),
    ],
)
def test_unexpected_character(source: str, position: int, hint: str) -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse(source)
    assert caught.value.position == position
    assert str(caught.value).startswith(
        f"Unexpected character '{source[position]}' at position {position}."
    )
    assert hint in str(caught.value)


def test_unterminated_string() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse("name = 'abc")
    assert caught.value.position == 7
    assert str(caught.value) == (
        'Unterminated string starting at position 7: expected a closing "\'" '
        "before the end of the expression."
    )


def test_invalid_escape() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse("'a\\qb'")
    assert caught.value.position == 2
    assert str(caught.value).startswith("Invalid escape '\\q' at position 2.")


def test_invalid_unicode_escape() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse("'\\u12'")
    assert caught.value.position == 1


def test_unterminated_braced_name() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse("1 + ${plot")
    assert caught.value.position == 4


def test_empty_braced_name() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse("${}")
    assert caught.value.position == 0


def test_unknown_function_is_syntax_error() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse("1 + sume(a)")
    assert caught.value.position == 4
    assert str(caught.value) == (
        "Unknown function 'sume' at position 4. Did you mean sum()?"
    )


def test_wrong_argument_count_is_syntax_error() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse("round(1, 2, 3)")
    assert caught.value.position == 0
    assert str(caught.value) == (
        "Function round() at position 0 takes 1 to 2 arguments, got 3."
    )


@pytest.mark.parametrize(
    ("source", "arity"),
    [
        ("today(1)", "no arguments"),
        ("upper()", "exactly 1 argument"),
        ("distance(1, 2, 3)", "exactly 4 arguments"),
        ("coalesce()", "at least 1 argument"),
    ],
)
def test_argument_count_messages(source: str, arity: str) -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse(source)
    assert f"takes {arity}," in str(caught.value)


def test_method_call_is_syntax_error() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse("name.upper()")
    assert caught.value.position == 5
    assert "only functions can be called" in str(caught.value)


def test_error_classes_derive_from_base() -> None:
    assert issubclass(ExpressionSyntaxError, ExpressionError)
    assert issubclass(ExpressionEvaluationError, ExpressionError)
    assert issubclass(ExpressionLimitError, ExpressionError)
    assert issubclass(ExpressionError, AppgraphError)


# Operators and precedence -------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("7 + 3", 10),
        ("7 - 10", -3),
        ("7 * 3", 21),
        ("7 % 3", 1),
        ("-7 % 3", -1),
        ("7 % -3", 1),
        ("7.5 % 2", Decimal("1.5")),
        ("-7.5 % 2", Decimal("-1.5")),
        ("1.5 * 2", Decimal("3.0")),
        ("2 - 0.5", Decimal("1.5")),
        ("-(3)", -3),
        ("--3", 3),
        ("-1.5", Decimal("-1.5")),
    ],
)
def test_arithmetic(source: str, expected: object) -> None:
    value = run(source)
    assert value == expected
    assert type(value) is type(expected)


def test_division_of_ints_is_decimal() -> None:
    assert run("7 / 2") == Decimal("3.5")
    assert type(run("6 / 3")) is Decimal
    assert run("6 / 3") == 2
    assert run("1 / 3") == Decimal("0.3333333333333333333333333333333333")


@pytest.mark.parametrize("source", ["1 / 0", "1.5 / 0.0", "5 % 0", "x / 0"])
def test_division_by_zero(source: str) -> None:
    with pytest.raises(ExpressionEvaluationError) as caught:
        evaluate(source, {"x": 4})
    assert str(caught.value).startswith("Division by zero:")
    assert caught.value.position == source.index(" ") + 1


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 4 - 3", 3),
        ("2 * 3 % 4", 2),
        ("-2 * 3", -6),
        ("1 + 2 = 3", True),
        ("(1 < 2) = false", False),
        ("not 1 = 2", True),
        ("not true and false", False),
        ("not (true and false)", True),
        ("true or false and false", True),
        ("(true or false) and false", False),
        ("1 in [1, 2] = true", True),
        ("1 + 1 in [2]", True),
        ("-x.v", -5),
    ],
)
def test_precedence(source: str, expected: object) -> None:
    assert evaluate(source, {"x": {"v": 5}}) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 = 1", True),
        ("1 == 1.0", True),
        ("1 != 2", True),
        ("'a' = 'a'", True),
        ("'a' = 'A'", False),
        ("1 = '1'", False),
        ("1 = true", False),
        ("true = true", True),
        ("[1, [2]] = [1, [2.0]]", True),
        ("[1, 2] = [2, 1]", False),
        ("x = y", True),
        ("2 < 3", True),
        ("3 <= 3", True),
        ("3 > 3", False),
        ("3 >= 3.0", True),
        ("'apple' < 'banana'", True),
        ("'2024-01-10' < '2024-02-01'", True),
    ],
)
def test_comparisons(source: str, expected: bool) -> None:
    assert evaluate(source, {"x": {"a": 1}, "y": {"a": Decimal("1.0")}}) is expected


def test_date_comparisons() -> None:
    env = {"a": date(2024, 1, 1), "b": date(2024, 1, 2)}
    assert evaluate("a < b", env) is True
    assert evaluate("a = date('2024-01-01')", env) is True


def test_ordering_mixed_types_fails() -> None:
    with pytest.raises(ExpressionEvaluationError) as caught:
        run("'3' < 4")
    assert str(caught.value).startswith("Cannot compare '3' and 4 with '<'")
    assert caught.value.position == 4


def test_ordering_string_and_date_suggests_conversion() -> None:
    with pytest.raises(ExpressionEvaluationError) as caught:
        run("'2024-01-01' < today()")
    assert "Convert ISO strings with date(...)" in str(caught.value)


def test_ordering_booleans_fails() -> None:
    with pytest.raises(ExpressionEvaluationError):
        run("true < false")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("2 in [1, 2]", True),
        ("3 in [1, 2]", False),
        ("2.0 in [1, 2]", True),
        ("'b' in 'abc'", True),
        ("'d' in 'abc'", False),
        ("'d' not in 'abc'", True),
        ("2 not in [1, 2]", False),
        ("null in [null]", True),
        ("1 in null", False),
        ("null in 'abc'", False),
    ],
)
def test_membership(source: str, expected: bool) -> None:
    assert run(source) is expected


def test_membership_type_errors() -> None:
    with pytest.raises(ExpressionEvaluationError) as caught:
        run("1 in 'abc'")
    assert "'in' on a string needs a string on its left" in str(caught.value)
    with pytest.raises(ExpressionEvaluationError) as caught:
        run("1 in 5")
    assert (
        str(caught.value)
        == "'in' needs a list or a string on its right, got 5 (number)."
    )


def test_string_concatenation_with_plus() -> None:
    assert run("'ab' + 'cd'") == "abcd"


def test_add_string_and_number_fails() -> None:
    with pytest.raises(ExpressionEvaluationError) as caught:
        run("'text' + 3")
    assert str(caught.value).startswith(
        "Cannot add 'text' and 3: '+' needs two numbers or two strings."
    )
    assert caught.value.position == 7


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("true + 1", "Cannot add true and 1: '+' needs two numbers or two strings."),
        ("'a' - 1", "Cannot subtract 1 from 'a': '-' needs two numbers."),
        ("[1] * 2", "Cannot multiply a list by 2: '*' needs two numbers."),
        ("2 / 'b'", "Cannot divide 2 by 'b': '/' needs two numbers."),
        ("-'a'", "Cannot negate 'a' (string): '-' needs a number."),
        ("-true", "Cannot negate true (boolean): '-' needs a number."),
    ],
)
def test_arithmetic_type_errors(source: str, message: str) -> None:
    with pytest.raises(ExpressionEvaluationError) as caught:
        run(source)
    assert str(caught.value) == message


def test_date_subtraction_suggests_functions() -> None:
    with pytest.raises(ExpressionEvaluationError) as caught:
        run("today() - date('2024-01-01')")
    assert "Use add_days() and days_between()" in str(caught.value)


def test_logical_operators_require_booleans() -> None:
    with pytest.raises(ExpressionEvaluationError) as caught:
        run("1 and true")
    assert str(caught.value) == (
        "'and' needs true, false or null on both sides, got 1 (number)."
    )
    with pytest.raises(ExpressionEvaluationError):
        run("false or 'x'")
    with pytest.raises(ExpressionEvaluationError) as caught:
        run("not 0")
    assert str(caught.value) == "'not' needs true, false or null, got 0 (number)."


def test_logical_operators_short_circuit() -> None:
    # The right side would fail with division by zero if it were evaluated.
    assert run("false and 1 / 0 = 1") is False
    assert run("true or 1 / 0 = 1") is True
    with pytest.raises(ExpressionEvaluationError):
        run("true and 1 / 0 = 1")


def test_double_equals_is_equality() -> None:
    assert run("2 == 2") is True
    assert run("2 == 3") is False
    root = parse("a == b").root
    assert isinstance(root, Binary)
    assert root.operator == "="


# Null semantics -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("x = null", True),
        ("x != null", False),
        ("1 = null", False),
        ("1 != null", True),
        ("null = null", True),
        ("x < 1", False),
        ("x > 1", False),
        ("x <= 1", False),
        ("x >= x", False),
        ("x + 1", None),
        ("1 - x", None),
        ("x * 2", None),
        ("x / 0", None),
        ("-x", None),
        ("'a' + x", None),
        ("not x", True),
        ("x and true", False),
        ("x or true", True),
        ("x or x", False),
        ("x.field", None),
        ("x[0]", None),
        ("[1][x]", None),
        ("unknown_block", None),
        ("${also-unknown}", None),
    ],
)
def test_null_semantics(source: str, expected: object) -> None:
    assert evaluate(source, {"x": None}) == expected
    if expected is None or isinstance(expected, bool):
        assert evaluate(source, {"x": None}) is expected


# References ----------------------------------------------------------------------


def test_bare_and_braced_references() -> None:
    env = {"plot_width": 4, "plot-length (m)": 5}
    assert evaluate("plot_width * ${plot-length (m)}", env) == 20


def test_self_value() -> None:
    assert evaluate(". > 0", {".": 5}) is True
    assert evaluate(". > 0", {".": -1}) is False
    assert evaluate("length(.) <= 3", {".": "abcd"}) is False
    assert evaluate(".", {}) is None


def test_member_and_index_access() -> None:
    env = {
        "row": {"field": "v", "odd key": 3},
        "items": [10, 20, 30],
        "matrix": [[1, 2], [3, 4]],
    }
    assert evaluate("row.field", env) == "v"
    assert evaluate("row['odd key']", env) == 3
    assert evaluate("row.${odd key}", env) == 3
    assert evaluate("row.missing", env) is None
    assert evaluate("items[0]", env) == 10
    assert evaluate("items[2]", env) == 30
    assert evaluate("items[3]", env) is None
    assert evaluate("matrix[1][0]", env) == 3
    assert evaluate("[5, 6][1]", env) == 6


def test_index_errors() -> None:
    with pytest.raises(ExpressionEvaluationError) as caught:
        evaluate("items[-1]", {"items": [1]})
    assert str(caught.value) == (
        "A list index must be 0 or more, got -1. Indexes start at 0."
    )
    with pytest.raises(ExpressionEvaluationError) as caught:
        evaluate("items[1.0]", {"items": [1, 2]})
    assert str(caught.value) == "A list index must be a whole number, got 1.0."
    with pytest.raises(ExpressionEvaluationError):
        evaluate("items[true]", {"items": [1, 2]})
    with pytest.raises(ExpressionEvaluationError):
        evaluate("row[1]", {"row": {"1": 1}})
    with pytest.raises(ExpressionEvaluationError) as caught:
        evaluate("'abc'[0]", {})
    assert str(caught.value).startswith("Cannot index 'abc' (string)")


def test_repeat_field_maps_over_rows() -> None:
    env = {
        "trees": [
            {"dbh": 10, "species": "teak"},
            {"dbh": Decimal("12.5"), "species": "mahogany"},
            {"species": "teak"},
            None,
        ]
    }
    assert evaluate("trees.dbh", env) == [10, Decimal("12.5"), None, None]
    assert evaluate("sum(trees.dbh)", env) == Decimal("22.5")
    assert evaluate("count(trees)", env) == 4
    assert evaluate("max(trees.dbh)", env) == Decimal("12.5")
    assert evaluate("trees[1].species", env) == "mahogany"
    assert evaluate("'teak' in trees.species", env) is True


def test_repeat_field_on_non_mapping_row_fails() -> None:
    with pytest.raises(ExpressionEvaluationError) as caught:
        evaluate("rows.x", {"rows": [{"x": 1}, 5]})
    assert str(caught.value) == (
        "Cannot read field 'x' of list item 1, 5 (number): only mappings have fields."
    )
    assert caught.value.position == 4


def test_choice_filter_on_option_mapping() -> None:
    expression = parse("option.region = region")
    options = [
        {"value": "arusha", "region": "north"},
        {"value": "mbeya", "region": "south"},
        {"value": "moshi", "region": "north"},
    ]
    matching = [
        option["value"]
        for option in options
        if expression.evaluate({"option": option, "region": "north"}) is True
    ]
    assert matching == ["arusha", "moshi"]


def test_python_attributes_are_not_reachable() -> None:
    env = {"x": {"a": 1}, "s": "text", "n": 3, "items": [1]}
    assert evaluate("x.__class__", env) is None
    assert evaluate("x.__dict__", env) is None
    assert evaluate("x['__class__']", env) is None
    for source in ("s.__class__", "n.__class__", "s.upper", "n.real"):
        with pytest.raises(ExpressionEvaluationError) as caught:
            evaluate(source, env)
        assert "only mappings and lists of mappings have fields" in str(caught.value)
    with pytest.raises(ExpressionEvaluationError):
        evaluate("items.__len__", env)


def test_references_include_function_arguments() -> None:
    expression = parse(
        "if(a > 0, sum(trees.dbh), coalesce(${odd-id}, b.c[d])) + . + index()"
    )
    assert expression.references() == frozenset({"a", "trees", "odd-id", "b", "d"})


def test_reference_paths() -> None:
    expression = parse("sum(trees.dbh) + a + b.c.d + coalesce(e, f).g + h[0].i")
    assert expression.reference_paths() == frozenset(
        {("trees", "dbh"), ("a",), ("b", "c", "d"), ("e",), ("f",), ("h",)}
    )


def test_references_of_literal_expression_are_empty() -> None:
    assert parse("1 + 2").references() == frozenset()


# Expression objects ----------------------------------------------------------------


def test_expression_is_hashable_and_equal() -> None:
    first = parse("a + 1")
    second = parse("a + 1")
    assert first == second
    assert hash(first) == hash(second)
    assert first.source == "a + 1"
    assert {first: "cached"}[second] == "cached"


def test_expression_is_immutable() -> None:
    expression = parse("a")
    with pytest.raises(AttributeError):
        expression.source = "b"  # type: ignore[misc]


def test_parse_cached_returns_same_object() -> None:
    assert parse_cached("x * 2") is parse_cached("x * 2")
    assert isinstance(parse_cached("x * 2"), Expression)


def test_evaluate_accepts_expression() -> None:
    expression = parse("x * 2")
    assert evaluate(expression, {"x": 4}) == 8
    assert expression.evaluate({"x": 5}) == 10


def test_evaluation_error_position_points_at_call() -> None:
    with pytest.raises(ExpressionEvaluationError) as caught:
        run("1 + upper(2)")
    assert caught.value.position == 4


def test_env_floats_become_exact_decimals() -> None:
    assert evaluate("x + 0.2", {"x": 0.1}) == Decimal("0.3")
    assert evaluate("sum(xs)", {"xs": [0.1, 0.2]}) == Decimal("0.3")
    with pytest.raises(ExpressionEvaluationError):
        evaluate("x", {"x": float("nan")})


def test_env_naive_datetime_is_utc() -> None:
    env = {
        "naive": datetime(2024, 1, 1, 12, 0),
        "aware": datetime(2024, 1, 1, 12, 0, tzinfo=UTC),
    }
    assert evaluate("naive = aware", env) is True
    assert evaluate("naive < aware", env) is False


def test_limits_reject_invalid_values() -> None:
    with pytest.raises(ValueError, match="max_steps must be a positive integer"):
        Limits(max_steps=0)
    with pytest.raises(ValueError, match="max_depth must be at most 100"):
        Limits(max_depth=101)
    with pytest.raises(ValueError, match="timeout_seconds must be positive"):
        Limits(timeout_seconds=0)
