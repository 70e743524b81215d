"""Limits on the size of expressions and on the work of evaluating them."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from blocks.expressions import (
    ExpressionEvaluationError,
    ExpressionLimitError,
    ExpressionSyntaxError,
    Limits,
    evaluate,
    parse,
)

PACKAGE = Path(__file__).resolve().parents[2] / "blocks" / "expressions"


class SlowEnv(Mapping[str, object]):
    """Environment whose every lookup sleeps, standing in for a slow data source."""

    def __init__(self, delay_seconds: float) -> None:
        self._delay_seconds = delay_seconds

    def __getitem__(self, key: str) -> object:
        time.sleep(self._delay_seconds)
        return 1

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def limit_error(source: str, env: Mapping[str, object], limits: Limits) -> str:
    with pytest.raises(ExpressionLimitError) as caught:
        evaluate(source, env, limits=limits)
    return caught.value.limit


# Parse-time limits --------------------------------------------------------------


def test_source_length_limit() -> None:
    source = "1 + " * 1000 + "1"
    assert len(source) == 4001
    with pytest.raises(ExpressionLimitError) as caught:
        parse(source)
    assert caught.value.limit == "max_source_length"
    assert caught.value.value == 4000
    assert str(caught.value).startswith(
        "Expression is 4001 characters long, more than the limit of 4000"
    )


def test_source_length_at_limit_is_accepted() -> None:
    source = "'" + "a" * 3998 + "'"
    assert parse(source).evaluate({}) == "a" * 3998


def test_node_limit() -> None:
    source = "[" + ", ".join(["1"] * 500) + "]"
    with pytest.raises(ExpressionLimitError) as caught:
        parse(source)
    assert caught.value.limit == "max_nodes"
    assert caught.value.value == 500
    assert parse("[" + ", ".join(["1"] * 499) + "]").evaluate({}) == [1] * 499


def test_depth_limit() -> None:
    assert parse("(" * 49 + "1" + ")" * 49).evaluate({}) == 1
    with pytest.raises(ExpressionLimitError) as caught:
        parse("(" * 50 + "1" + ")" * 50)
    assert caught.value.limit == "max_depth"
    assert caught.value.value == 50
    assert caught.value.position == 50


@pytest.mark.parametrize(
    "source",
    [
        "(" * 10_000 + "1" + ")" * 10_000,
        "-" * 10_000 + "1",
        "not " * 10_000 + "true",
        "[" * 10_000 + "]" * 10_000,
        "abs(" * 10_000 + "1" + ")" * 10_000,
        "x" + "[0]" * 5_000,
        "1" + " + (1" * 10_000 + ")" * 10_000,
    ],
)
def test_deep_nesting_raises_limit_not_recursion(source: str) -> None:
    limits = Limits(max_source_length=100_000, max_nodes=100_000)
    with pytest.raises(ExpressionLimitError) as caught:
        parse(source, limits=limits).evaluate({}, limits=limits)
    assert caught.value.limit in ("max_depth", "max_steps")


def test_long_chains_do_not_count_as_depth() -> None:
    limits = Limits(max_nodes=2_000)
    assert evaluate("1" + " + 1" * 400, {}, limits=limits) == 401
    assert evaluate("true" + " and true" * 400, {}, limits=limits) is True
    assert evaluate("x" + ".x" * 400, {"x": None}, limits=limits) is None


def test_max_depth_evaluates_within_small_stack() -> None:
    limits = Limits(max_depth=100)
    source = "coalesce(" * 99 + "1" + ")" * 99
    default_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(600)
    try:
        assert evaluate(source, {}, limits=limits) == 1
        assert evaluate("if(true, " * 99 + "1" + ", 0)" * 99, {}, limits=limits) == 1
    finally:
        sys.setrecursionlimit(default_limit)


def test_long_number_literal_is_syntax_error() -> None:
    limits = Limits(max_source_length=10_000)
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse("1" * 4_301, limits=limits)
    assert caught.value.position == 0
    assert "more than 4300 digits" in str(caught.value)


# Evaluation limits --------------------------------------------------------------


def test_step_limit() -> None:
    limits = Limits(max_steps=100)
    source = "[" + ", ".join(["1"] * 99) + "]"
    assert evaluate(source, {}, limits=limits) == [1] * 99
    with pytest.raises(ExpressionLimitError) as caught:
        evaluate("[" + ", ".join(["1"] * 100) + "]", {}, limits=limits)
    assert caught.value.limit == "max_steps"
    assert caught.value.value == 100


def test_step_limit_counts_list_items() -> None:
    rows = [{"x": 1}] * 900
    # sum(rows.x) walks the rows twice: once for the field, once for the sum.
    assert evaluate("sum(rows.x)", {"rows": rows}) == 900
    source = " + ".join(["sum(rows.x)"] * 6)
    assert limit_error(source, {"rows": rows}, Limits()) == "max_steps"


def test_string_growth_limit() -> None:
    env = {"s": "a" * 1_000}
    assert len(str(evaluate("concat(" + ", ".join(["s"] * 10) + ")", env))) == 10_000
    assert limit_error("concat(" + ", ".join(["s"] * 11) + ")", env, Limits()) == (
        "max_string_length"
    )
    assert limit_error(" + ".join(["s"] * 11), env, Limits()) == "max_string_length"
    assert limit_error("join('', [" + ", ".join(["s"] * 11) + "])", env, Limits()) == (
        "max_string_length"
    )


def test_string_growth_limit_is_configurable() -> None:
    limits = Limits(max_string_length=5)
    assert evaluate("'ab' + 'cde'", {}, limits=limits) == "abcde"
    with pytest.raises(ExpressionLimitError) as caught:
        evaluate("'ab' + 'cdef'", {}, limits=limits)
    assert caught.value.limit == "max_string_length"
    assert caught.value.value == 5
    assert caught.value.position == 5


def test_number_to_string_limit() -> None:
    with pytest.raises(ExpressionEvaluationError) as caught:
        evaluate("string(x)", {"x": 10**5_000})
    assert str(caught.value) == (
        "Cannot convert an integer of more than 4300 digits to a string."
    )
    assert limit_error(
        "string(x)", {"x": 10**4_000}, Limits(max_string_length=3_000)
    ) == ("max_string_length")
    limits = Limits(max_string_length=10)
    assert limit_error("string(pow(10, 10))", {}, limits) == "max_string_length"
    assert evaluate("string(pow(10, 9))", {}, limits=limits) == "1000000000"


def test_list_growth_limit() -> None:
    env = {"csv": ",".join(["a"] * 1_000)}
    assert len(evaluate("split(csv, ',')", env)) == 1_000  # type: ignore[arg-type]
    env = {"csv": ",".join(["a"] * 1_001)}
    assert limit_error("split(csv, ',')", env, Limits()) == "max_list_length"
    limits = Limits(max_list_length=3)
    assert limit_error("[1, 2, 3, 4]", {}, limits) == "max_list_length"
    assert limit_error("rows.x", {"rows": [{}] * 4}, limits) == "max_list_length"


def test_timeout_with_slow_environment() -> None:
    # Each lookup sleeps 1 ms, so 100 lookups take at least 100 ms.
    source = "[" + ", ".join(["a"] * 100) + "]"
    limits = Limits(timeout_seconds=0.01)
    started = time.perf_counter()
    with pytest.raises(ExpressionLimitError) as caught:
        evaluate(source, SlowEnv(0.001), limits=limits)
    elapsed = time.perf_counter() - started
    assert caught.value.limit == "timeout_seconds"
    assert caught.value.value == 0.01
    assert str(caught.value) == (
        "Expression evaluation timed out after 0.01 seconds (timeout_seconds)."
    )
    assert elapsed < 0.1


def test_fast_evaluation_does_not_time_out() -> None:
    source = "[" + ", ".join(["a"] * 100) + "]"
    assert evaluate(source, SlowEnv(0)) == [1] * 100


# Safety -------------------------------------------------------------------------


def test_regex_nested_quantifier_is_bounded() -> None:
    started = time.perf_counter()
    try:
        result = evaluate("regex(v, '(a|aa)+$')", {"v": "a" * 5000 + "!"})
    except ExpressionLimitError as error:
        assert error.limit == "timeout_seconds"
    else:
        assert result is False
    assert time.perf_counter() - started < 1.0


def test_package_uses_no_python_code_execution() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        for word in ("eval(", "exec(", "import ast", "from ast", "getattr("):
            assert word not in text, f"{path.name} contains {word}"
        # The only compile calls allowed are regular expressions.
        allowed = text.count("regex_module.compile(") + text.count(" re.compile(")
        assert text.count("compile(") == allowed, path.name


def test_limits_defaults() -> None:
    limits = Limits()
    assert limits.max_source_length == 4_000
    assert limits.max_nodes == 500
    assert limits.max_depth == 50
    assert limits.max_steps == 10_000
    assert limits.max_string_length == 10_000
    assert limits.max_list_length == 1_000
    assert limits.timeout_seconds == 0.05
