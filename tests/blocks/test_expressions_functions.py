"""Built-in functions of the expression language."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from blocks.expressions import (
    FUNCTIONS,
    ExpressionEvaluationError,
    ExpressionLimitError,
    Limits,
    evaluate,
    parse,
)

FIXED_NOW = datetime(2024, 3, 31, 22, 30, 15, tzinfo=UTC)
FIXED_LIMITS = Limits(clock=lambda: FIXED_NOW)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "expressions.md"


def run(source: str, **env: object) -> object:
    return evaluate(source, env, limits=FIXED_LIMITS)


def fails(source: str, **env: object) -> str:
    with pytest.raises(ExpressionEvaluationError) as caught:
        run(source, **env)
    return str(caught.value)


# Registry -----------------------------------------------------------------------


def test_registry_lists_every_function() -> None:
    expected = {
        "if", "coalesce", "index", "concat", "string", "lower", "upper", "trim",
        "contains", "starts_with", "ends_with", "substr", "regex", "join", "split",
        "length", "count", "sum", "min", "max", "selected", "count_selected",
        "round", "floor", "ceil", "abs", "int", "number", "pow", "sqrt", "exp",
        "log", "log10", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "pi",
        "distance", "today", "now", "date", "datetime", "year",
        "month", "day", "days_between", "add_days", "format_date",
    }  # fmt: skip
    assert set(FUNCTIONS) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("sin(0)", Decimal("0")),
        ("cos(0)", Decimal("1")),
        ("tan(0)", Decimal("0")),
        ("asin(1)", Decimal("1.57079632679490")),
        ("acos(1)", Decimal("0")),
        ("atan(1)", Decimal("0.785398163397448")),
        ("atan2(1, 1)", Decimal("0.785398163397448")),
        ("pi()", Decimal("3.14159265358979")),
        ("round(15 / sqrt(cos(atan(12 / 100))), 2)", Decimal("15.05")),
        ("sin(null)", None),
    ],
)
def test_trigonometry_values(source: str, expected: object) -> None:
    assert run(source) == expected


def test_asin_outside_domain_fails() -> None:
    assert "from -1 to 1" in fails("asin(2)")


def test_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        FUNCTIONS["evil"] = FUNCTIONS["if"]  # type: ignore[index]


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_example_parses_and_is_documented(name: str) -> None:
    spec = FUNCTIONS[name]
    example = parse(spec.example)
    assert example.source.startswith(f"{name}(")
    assert spec.signature.startswith(f"{name}(")
    assert f"`{spec.signature}`" in DOCS.read_text(encoding="utf-8")


# Logic --------------------------------------------------------------------------


def test_if_picks_branch() -> None:
    assert run("if(age >= 18, 'adult', 'minor')", age=20) == "adult"
    assert run("if(age >= 18, 'adult', 'minor')", age=3) == "minor"
    assert run("if(null, 'yes', 'no')") == "no"


def test_if_is_lazy() -> None:
    assert run("if(true, 1, 1 / 0)") == 1
    assert run("if(false, 1 / 0, 2)") == 2


def test_if_rejects_non_boolean_condition() -> None:
    assert fails("if(1, 'a', 'b')") == (
        "if() needs true, false or null as its condition, got 1."
    )


def test_coalesce_returns_first_non_null() -> None:
    assert run("coalesce(a, b, 'unknown')", a=None, b="") == ""
    assert run("coalesce(a, b, 'unknown')") == "unknown"
    assert run("coalesce(null)") is None


def test_coalesce_is_lazy() -> None:
    assert run("coalesce(1, 1 / 0)") == 1


def test_index_reads_row_number() -> None:
    assert evaluate("index()", {"@index": 3}) == 3
    assert evaluate("index() = 1", {}) is False
    assert evaluate("index()", {}) is None


# Text ---------------------------------------------------------------------------


def test_concat() -> None:
    assert run("concat(first, ' ', last)", first="Ada", last="Lovelace") == (
        "Ada Lovelace"
    )
    assert run("concat('n=', 3, ' ', 2.50, ' ', true, ' ', null, '!')") == (
        "n=3 2.50 true !"
    )
    assert run("concat(d)", d=date(2024, 1, 2)) == "2024-01-02"
    assert run("concat()") == ""
    assert fails("concat([1])").startswith("Cannot convert a list to a string")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("string(3.50)", "3.50"),
        ("string(12345678901234567890)", "12345678901234567890"),
        ("string(null)", ""),
        ("string(false)", "false"),
        ("string('x')", "x"),
        ("string(10 / 0.1)", "100"),
        ("string(0 * -1.5)", "0.0"),
        ("string(date('2024-03-01'))", "2024-03-01"),
        ("string(datetime('2024-03-01T10:00:00Z'))", "2024-03-01T10:00:00+00:00"),
    ],
)
def test_string(source: str, expected: str) -> None:
    assert run(source) == expected


def test_string_rejects_mapping() -> None:
    assert fails("string(x)", x={"a": 1}).startswith("Cannot convert a mapping")


def test_case_and_trim() -> None:
    assert run("lower('ÀBC')") == "àbc"
    assert run("upper('abc')") == "ABC"
    assert run("trim('  a b \\n')") == "a b"
    assert run("lower(null)") is None
    assert run("upper(null)") is None
    assert run("trim(null)") is None
    assert fails("upper(1)") == "upper() needs a string, got 1 (number)."
    assert fails("lower(true)") == "lower() needs a string, got true (boolean)."
    assert fails("trim([])") == "trim() needs a string, got a list (list)."


def test_contains_starts_ends() -> None:
    assert run("contains('hello', 'ell')") is True
    assert run("contains('hello', 'xyz')") is False
    assert run("contains([1, 2], 2)") is True
    assert run("contains(null, 'a')") is False
    assert run("starts_with('+255712', '+255')") is True
    assert run("starts_with('0712', '+255')") is False
    assert run("ends_with('a@b.org', '.org')") is True
    assert run("ends_with(null, '.org')") is False
    assert fails("contains(5, '5')") == (
        "contains() as its first argument needs a string, got 5 (number)."
    )
    assert fails("starts_with('a', 1)").startswith("starts_with() as its second")
    assert fails("ends_with(1, 'a')").startswith("ends_with() as its first")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("substr('2024-03-31', 0, 4)", "2024"),
        ("substr('2024-03-31', 5)", "03-31"),
        ("substr('abc', 1, 100)", "bc"),
        ("substr('abc', 10)", ""),
        ("substr('abc', 0, 0)", ""),
        ("substr(null, 0)", None),
    ],
)
def test_substr(source: str, expected: object) -> None:
    assert run(source) == expected


def test_substr_errors() -> None:
    assert fails("substr('abc', -1)") == "substr() needs a start of 0 or more, got -1."
    assert fails("substr('abc', 0, -2)") == (
        "substr() needs a length of 0 or more, got -2."
    )
    assert fails("substr('abc', 1.5)").startswith("substr() as its start needs")


def test_regex_full_match() -> None:
    assert run("regex('AB1234', '[A-Z]{2}\\\\d{4}')") is True
    assert run("regex('xAB1234', '[A-Z]{2}\\\\d{4}')") is False
    assert run("regex('AB12345', '[A-Z]{2}\\\\d{4}')") is False
    assert run("regex(null, 'a')") is False


def test_regex_invalid_pattern() -> None:
    assert fails("regex('a', '(')").startswith("regex() pattern '(' is invalid:")


def test_regex_length_limits() -> None:
    with pytest.raises(ExpressionLimitError) as caught:
        run("regex('a', p)", p="a" * 501)
    assert caught.value.limit == "regex_max_pattern_length"
    assert caught.value.value == 500
    with pytest.raises(ExpressionLimitError) as caught:
        run("regex(v, 'a*')", v="a" * 10_001)
    assert caught.value.limit == "regex_max_input_length"
    assert run("regex(v, 'a*')", v="a" * 10_000) is True


def test_join_and_split() -> None:
    assert run("join(', ', crops)", crops=["maize", "beans"]) == "maize, beans"
    assert run("join('-', [1, null, 2.5])") == "1--2.5"
    assert run("join(', ', null)") == ""
    assert run("join(', ', [])") == ""
    assert run("split('a,b,,c', ',')") == ["a", "b", "", "c"]
    assert run("split('', ',')") == []
    assert run("split(null, ',')") == []
    assert fails("split('a', '')") == "split() needs a non-empty separator."
    assert fails("join(', ', 'ab')") == (
        "join() needs a list as its second argument, got 'ab'."
    )


# Lists --------------------------------------------------------------------------


def test_length_and_count() -> None:
    assert run("length('héllo')") == 5
    assert run("length([1, 2, 3])") == 3
    assert run("length(null)") == 0
    assert run("count(rows)", rows=[{}, {}]) == 2
    assert run("count(null)") == 0
    assert fails("length(5)") == "length() needs a string or a list, got 5 (number)."
    assert fails("count('ab')") == "count() needs a list, got 'ab' (string)."


def test_sum() -> None:
    assert run("sum([1, 2, 3])") == 6
    assert type(run("sum([1, 2, 3])")) is int
    assert run("sum([0.1, 0.2, null])") == Decimal("0.3")
    assert run("sum([])") == 0
    assert run("sum(null)") == 0
    assert fails("sum([1, 'a'])") == (
        "sum() for every list item needs a number, got 'a' (string)."
    )
    assert fails("sum(5)") == "sum() needs a list, got 5 (number)."


def test_min_and_max() -> None:
    assert run("min(3, 1, 2)") == 1
    assert run("max(3, 1, 2)") == 3
    assert run("min([3, 1.5, null])") == Decimal("1.5")
    assert run("max(['b', 'a'])") == "b"
    assert run("max(null, null)") is None
    assert run("min([])") is None
    assert run("max(date('2024-01-01'), date('2023-12-31'))") == date(2024, 1, 1)
    assert fails("min(1, 'a')").startswith("Cannot compare 'a' and 1")
    assert fails("max(true, false)").startswith("max() needs numbers, strings")


def test_selected_and_count_selected() -> None:
    assert run("selected(crops, 'maize')", crops=["maize", "beans"]) is True
    assert run("selected(crops, 'rice')", crops=["maize", "beans"]) is False
    assert run("selected('maize beans', 'beans')") is True
    assert run("selected('maize beans', 'bean')") is False
    assert run("selected(null, 'a')") is False
    assert run("count_selected('maize  beans')") == 2
    assert run("count_selected(crops)", crops=["a"]) == 1
    assert run("count_selected(null)") == 0
    assert fails("selected(3, 'a')") == (
        "selected() as its first argument needs a list, got 3 (number)."
    )


# Numbers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("round(2.5)", 3),
        ("round(-2.5)", -3),
        ("round(2.4)", 2),
        ("round(2.345, 2)", Decimal("2.35")),
        ("round(-2.345, 2)", Decimal("-2.35")),
        ("round(3, 2)", Decimal("3.00")),
        ("round(1250, -2)", 1300),
        ("round(-1250, -2)", -1300),
        ("round(1249.9, -2)", 1200),
        ("round(null)", None),
    ],
)
def test_round(source: str, expected: object) -> None:
    value = run(source)
    assert value == expected
    assert type(value) is type(expected)
    if isinstance(expected, Decimal):
        assert str(value) == str(expected)


def test_round_errors() -> None:
    assert fails("round('a')") == (
        "round() as its first argument needs a number, got 'a' (string)."
    )
    assert fails("round(1, 0.5)").startswith("round() as its places needs a whole")
    assert fails("round(1, 101)") == (
        "round() needs places between -100 and 100, got 101."
    )
    assert fails("round(x)", x=Decimal("1E+5000")) == (
        "round() result would have more than 4300 digits."
    )


def test_round_beyond_decimal_precision() -> None:
    value = run("round(1.5, 100)")
    assert value == Decimal("1.5")
    assert isinstance(value, Decimal)
    assert value.as_tuple().exponent == -100
    big = Decimal("1234567890123456789012345678901234567890.5")
    assert run("round(x)", x=big) == 1234567890123456789012345678901234567891
    assert run("round(x, 1)", x=big) == big


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("floor(2.7)", 2),
        ("floor(-2.1)", -3),
        ("floor(5)", 5),
        ("ceil(2.1)", 3),
        ("ceil(-2.7)", -2),
        ("abs(-4.5)", Decimal("4.5")),
        ("abs(-4)", 4),
        ("int(-3.9)", -3),
        ("int(3.9)", 3),
        ("int('-3.9')", -3),
        ("int(' 42 ')", 42),
        ("number('12.50')", Decimal("12.50")),
        ("number('-7')", -7),
        ("number('abc')", None),
        ("number('')", None),
        ("number('1e3')", None),
        ("number('NaN')", None),
        ("number(5)", 5),
        ("floor(null)", None),
        ("ceil(null)", None),
        ("abs(null)", None),
        ("int(null)", None),
        ("number(null)", None),
    ],
)
def test_number_conversions(source: str, expected: object) -> None:
    value = run(source)
    assert value == expected
    assert type(value) is type(expected)


def test_number_conversion_errors() -> None:
    assert fails("floor('a')") == "floor() needs a number, got 'a' (string)."
    assert fails("ceil(true)") == "ceil() needs a number, got true (boolean)."
    assert fails("abs([1])") == "abs() needs a number, got a list (list)."
    assert fails("int('abc')").startswith("int() needs a number or a numeric string")
    assert fails("number(true)") == (
        "number() needs a string or a number, got true (boolean)."
    )


def test_pow() -> None:
    assert run("pow(2, 10)") == 1024
    assert run("pow(2, 64)") == 2**64
    assert run("pow(1.05, 2)") == Decimal("1.1025")
    assert run("pow(2, -2)") == Decimal("0.25")
    assert run("pow(0, 0)") == 1
    assert run("pow(null, 2)") is None
    assert fails("pow(2, 0.5)").startswith("pow() as its exponent needs a whole")
    assert fails("pow(0, -1)") == "pow() cannot raise 0 to a negative exponent."


def test_pow_limits() -> None:
    with pytest.raises(ExpressionLimitError) as caught:
        run("pow(2, 65)")
    assert caught.value.limit == "pow_max_exponent"
    with pytest.raises(ExpressionLimitError) as caught:
        run("pow(x, 64)", x=10**20)
    assert caught.value.limit == "pow_max_digits"
    assert caught.value.value == 1000


def test_sqrt_exp_log() -> None:
    assert run("sqrt(16)") == 4
    assert run("sqrt(2)") == Decimal("1.414213562373095048801688724209698")
    assert run("exp(0)") == 1
    assert run("exp(1)") == Decimal("2.718281828459045235360287471352662")
    assert run("log(1)") == 0
    assert run("log(exp(2))") == 2
    assert run("log10(1000)") == 3
    assert run("log10(0.01)") == -2
    for name in ("sqrt", "exp", "log", "log10"):
        assert run(f"{name}(null)") is None
    assert fails("sqrt(-1)") == "sqrt() needs a number of 0 or more, got -1."
    assert fails("log(0)") == "log() needs a number greater than 0, got 0."
    assert fails("log10(-5)") == "log10() needs a number greater than 0, got -5."
    assert fails("exp(10000000)").startswith("exp() failed")


def test_distance_in_metres() -> None:
    # One degree of latitude on a sphere of radius 6,371,008.8 m.
    assert run("distance(0, 0, 1, 0)") == Decimal("111195.080")
    assert run("distance(-6.8, 39.28, -6.8, 39.28)") == Decimal("0.000")
    value = run("distance(-6.8, 39.28, -3.37, 36.68)")
    assert isinstance(value, Decimal)
    assert value.as_tuple().exponent == -3
    assert Decimal(476_000) < value < Decimal(479_000)
    assert run("distance(null, 0, 1, 0)") is None
    assert fails("distance(91, 0, 0, 0)") == (
        "distance() needs lat1 between -90 and 90 degrees, got 91."
    )
    assert fails("distance(0, 0, 0, '1')").startswith("distance() as lng2 needs")


# Dates --------------------------------------------------------------------------


def test_today_and_now_use_clock() -> None:
    assert run("today()") == date(2024, 3, 31)
    assert run("now()") == FIXED_NOW
    offset_clock = Limits(
        clock=lambda: datetime(2024, 4, 1, 1, 0, tzinfo=timezone(timedelta(hours=3)))
    )
    assert evaluate("today()", {}, limits=offset_clock) == date(2024, 3, 31)


def test_now_without_injected_clock_is_current() -> None:
    before = datetime.now(UTC)
    value = evaluate("now()", {})
    assert isinstance(value, datetime)
    assert before <= value <= datetime.now(UTC)


def test_date_and_datetime_parsing() -> None:
    assert run("date('2024-02-29')") == date(2024, 2, 29)
    assert run("date('2024-02-29T23:00:00+03:00')") == date(2024, 2, 29)
    assert run("date(now())") == date(2024, 3, 31)
    assert run("date('')") is None
    assert run("date(null)") is None
    assert run("datetime('2024-03-31T14:30:00+03:00')") == datetime(
        2024, 3, 31, 11, 30, tzinfo=UTC
    )
    assert run("datetime('2024-03-31T14:30:00')") == datetime(
        2024, 3, 31, 14, 30, tzinfo=UTC
    )
    assert run("datetime(date('2024-03-31'))") == datetime(2024, 3, 31, tzinfo=UTC)
    assert run("datetime(null)") is None


def test_date_parsing_errors() -> None:
    assert fails("date('2023-02-29')").startswith(
        "date() got an invalid date '2023-02-29'"
    )
    assert fails("date('31/03/2024')").startswith(
        "date() needs an ISO 8601 date or datetime"
    )
    assert fails("datetime(5)").startswith("datetime() needs a date, a datetime")


def test_date_parts() -> None:
    assert run("year('2024-03-31')") == 2024
    assert run("month('2024-03-31')") == 3
    assert run("day(d)", d=date(2024, 3, 9)) == 9
    assert run("year(now())") == 2024
    assert run("month(null)") is None
    assert fails("day(5)").startswith("day() needs a date, a datetime")


def test_days_between_and_add_days() -> None:
    assert run("days_between('2024-02-28', '2024-03-01')") == 2
    assert run("days_between('2024-03-01', '2024-02-28')") == -2
    assert run("days_between(planted, today())", planted="2024-03-01") == 30
    assert run("days_between('2024-03-01T23:59:00Z', '2024-03-02T00:01:00Z')") == 1
    assert run("days_between(null, today())") is None
    assert run("add_days('2024-02-28', 2)") == date(2024, 3, 1)
    assert run("add_days(now(), -1)") == FIXED_NOW - timedelta(days=1)
    assert run("add_days(null, 1)") is None
    assert fails("add_days('2024-01-01', 1.5)").startswith(
        "add_days() as its day count needs a whole number"
    )
    assert fails("add_days('9999-12-31', 1)").startswith(
        "add_days() result is outside the years 1 to 9999"
    )


def test_format_date() -> None:
    assert run("format_date('2024-03-09', '%d/%m/%Y')") == "09/03/2024"
    assert run("format_date(now(), '%Y-%m-%d %H:%M:%S')") == "2024-03-31 22:30:15"
    assert run("format_date('2024-03-09', '%H:%M 100%%')") == "00:00 100%"
    assert run("format_date(d, '%Y')", d=date(5, 1, 1)) == "0005"
    assert run("format_date(null, '%Y')") is None
    assert fails("format_date('2024-03-09', '%A')") == (
        "format_date() does not support '%A'. Use %Y %m %d %H %M %S, "
        "or %% for a percent sign."
    )
    assert fails("format_date('2024-03-09', '%')").startswith(
        "format_date() does not support a lone '%' at the end"
    )


def test_documented_examples_parse() -> None:
    text = DOCS.read_text(encoding="utf-8")
    blocks = text.split("```text\n")[1:]
    examples = [
        line
        for block in blocks
        for line in block.split("```")[0].splitlines()
        if line.strip()
    ]
    assert len(examples) == 16
    for example in examples:
        parse(example)
