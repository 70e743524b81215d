from decimal import Decimal

import pytest

from blocks.expressions import parse
from blocks.xlsform.xpath import XPathTranslationError, translate_xpath

TRANSLATIONS = [
    # References, the current value, literals.
    ("${age}", "age"),
    ("${plot-id}", "${plot-id}"),
    ("${and}", "${and}"),
    (".", "."),
    ("'yes'", "'yes'"),
    ('"it\'s"', "'it\\'s'"),
    ("12", "12"),
    (".5", "0.5"),
    ("3.", "3"),
    ("‘other’", "'other'"),
    # Operators.
    ("${a} = 'yes'", "a = 'yes'"),
    ("${a} != 2", "a != 2"),
    (". < 10", ". < 10"),
    (". <= 72 and . >= 0", ". <= 72 and . >= 0"),
    ("${a} > 1 or ${b} >= 2", "a > 1 or b >= 2"),
    ("${a} + ${b} * 2", "a + b * 2"),
    ("(${a} + ${b}) * 2", "(a + b) * 2"),
    ("${a} - (${b} - ${c})", "a - (b - c)"),
    ("${a} - ${b} - ${c}", "a - b - c"),
    ("15 div 100", "15 / 100"),
    ("${n} mod 2 = 0", "n % 2 = 0"),
    ("-${a} * -2", "-a * -2"),
    ("-(${a} - 3)", "-(a - 3)"),
    ("1 < 2 = true()", "(1 < 2) = true"),
    ("${a} = ${b} = ${c}", "(a = b) = c"),
    ("${a} or ${b} and ${c}", "a or b and c"),
    ("(${a} or ${b}) and ${c}", "(a or b) and c"),
    # not() and boolean constants.
    ("not(${a})", "not a"),
    ("not(${a} = 1)", "not (a = 1)"),
    ("not(${a}) and ${b}", "not a and b"),
    ("not(${a}) = false()", "(not a) = false"),
    ("true()", "true"),
    # Functions.
    ("if(${d} > 5, 15, 6)", "if(d > 5, 15, 6)"),
    ("selected(${crops}, 'maize')", "selected(crops, 'maize')"),
    ("count-selected(${crops}) >= 2", "count_selected(crops) >= 2"),
    ("concat(${first}, ' ', ${last})", "concat(first, ' ', last)"),
    ("string-length(${name}) > 3", "length(name) > 3"),
    ("regex(., '^\\d{10}$')", "regex(., '^\\\\d{10}$')"),
    ("today()", "today()"),
    ("now()", "now()"),
    ("round(${x}, 2)", "round(x, 2)"),
    ("int(${x})", "int(x)"),
    ("number(${x})", "number(x)"),
    ("string(${x})", "string(x)"),
    ("coalesce(${a}, ${b})", "coalesce(a, b)"),
    ("sum(${trees})", "sum(trees)"),
    ("count(${trees})", "count(trees)"),
    ("max(${a}, ${b})", "max(a, b)"),
    ("min(${a}, ${b})", "min(a, b)"),
    ("pow(${a}, 2)", "pow(a, 2)"),
    ("sqrt(${a})", "sqrt(a)"),
    ("abs(${a})", "abs(a)"),
    ("floor(${a})", "floor(a)"),
    ("ceiling(${a})", "ceil(a)"),
    ("substr(${code}, 0, 4)", "substr(code, 0, 4)"),
    ("substr(${code}, 2, 5)", "substr(code, 2, 3)"),
    ("substr(${code}, 2)", "substr(code, 2)"),
    ("substr(${code}, ${a}, ${b} + 1)", "substr(code, a, b + 1 - a)"),
    ("contains(${email}, '@')", "contains(email, '@')"),
    ("starts-with(${phone}, '+255')", "starts_with(phone, '+255')"),
    ("ends-with(${email}, '.org')", "ends_with(email, '.org')"),
    ("position(..)", "index()"),
    ("date(${d})", "date(d)"),
    ("format-date(${d}, '%Y-%m-%d')", "format_date(d, '%Y-%m-%d')"),
    # Relative sibling paths.
    ("../x + 1", "x + 1"),
]


@pytest.mark.parametrize(("xpath", "expected"), TRANSLATIONS)
def test_translate_table(xpath: str, expected: str) -> None:
    assert translate_xpath(xpath).expression == expected


@pytest.mark.parametrize(("xpath", "expected"), TRANSLATIONS)
def test_translations_parse(xpath: str, expected: str) -> None:
    assert parse(translate_xpath(xpath).expression).source == expected


UNSUPPORTED = [
    ("pulldata('plots', 'area', 'id', ${plot})", "pulldata()"),
    ("jr:choice-name(${crop}, '${crop}')", "jr:choice-name()"),
    ("indexed-repeat(${dbh}, ${trees}, 1)", "indexed-repeat()"),
    ("once(uuid())", "once()"),
    ("random()", "random()"),
    ("uuid()", "uuid()"),
    ("instance('districts')/root/item", "instance()"),
    ("decimal-date-time(${d})", "decimal-date-time()"),
    ("area(${shape})", "area()"),
    ("format-date(${d}, '%b %e')", "format-date()"),
    ("format-date(${d}, ${pattern})", "format-date()"),
    ("substr(${a}, -2)", "substr()"),
    ("position()", "position()"),
    ("frobnicate(1)", "frobnicate()"),
    ("/data/age > 5", "absolute path"),
    ("//age", "absolute path"),
    ("age > 5", "relative path"),
    ("../../age", "relative path"),
    ("${trees}[1]", "predicate"),
    ("${a} | ${b}", "union"),
    ("$var", "variable"),
    ("@id", "attribute"),
    ("child::age", "axis"),
    ("text()", "text()"),
    ("${a} = ", "syntax"),
    ("'unterminated", "string"),
    ("${open", "reference"),
    ("${a} # 1", "character"),
    ("", "empty expression"),
]


@pytest.mark.parametrize(("xpath", "construct"), UNSUPPORTED)
def test_unsupported_names_construct(xpath: str, construct: str) -> None:
    with pytest.raises(XPathTranslationError) as caught:
        translate_xpath(xpath)
    assert caught.value.construct == construct


def test_unsupported_function_message_names_it() -> None:
    with pytest.raises(XPathTranslationError) as caught:
        translate_xpath("round(15 div area(${shape}), 2)")
    assert "area()" in caught.value.message
    assert caught.value.position == 13


def test_absolute_path_message_names_path() -> None:
    with pytest.raises(XPathTranslationError) as caught:
        translate_xpath("/data/age > 5")
    assert "'/data/age'" in caught.value.message


def test_choice_filter_columns_become_option_fields() -> None:
    translation = translate_xpath(
        "region_id=${region_id} and starts-with(name, ${prefix})", choice_filter=True
    )
    assert translation.expression == (
        "option.region_id = region_id and starts_with(option.value, prefix)"
    )
    assert translation.option_columns == ("region_id", "name")
    assert translation.references == ("region_id", "prefix")


def test_choice_filter_odd_column_is_braced() -> None:
    translation = translate_xpath("region-id = 3", choice_filter=True)
    assert translation.expression == "option.${region-id} = 3"


def test_choice_filter_evaluates_per_option() -> None:
    expression = parse(
        translate_xpath("region = ${region}", choice_filter=True).expression
    )
    env = {"region": "north", "option": {"value": "a", "region": "north"}}
    assert expression.evaluate(env) is True


def test_reference_path_rewrites_reference() -> None:
    translation = translate_xpath(
        "sum(${dbh}) > 10", reference_path=lambda name: ("trees", name)
    )
    assert translation.expression == "sum(trees.dbh) > 10"


RESULT_KINDS = [
    ("${a} + 1", "number"),
    ("round(${a} div 3, 2)", "number"),
    ("count(${trees})", "number"),
    ("if(${a} > 1, 15, 6)", "number"),
    ("${a} > 1", "boolean"),
    ("selected(${a}, 'x')", "boolean"),
    ("not(${a})", "boolean"),
    ("concat(${a}, 'x')", "text"),
    ("'text'", "text"),
    ("if(${a} > 1, 'x', 2)", None),
    ("${a}", None),
    ("today()", None),
]


@pytest.mark.parametrize(("xpath", "kind"), RESULT_KINDS)
def test_result_kind_table(xpath: str, kind: str | None) -> None:
    assert translate_xpath(xpath).result == kind


def test_sole_reference_is_reported() -> None:
    assert translate_xpath("${tag}").sole_reference == "tag"


def test_sole_reference_absent_for_call() -> None:
    assert translate_xpath("int(${tag})").sole_reference is None


def test_references_in_order_of_use() -> None:
    translation = translate_xpath("${b} + ${a} + ${b}")
    assert translation.references == ("b", "a")


def test_translated_arithmetic_evaluates() -> None:
    expression = parse(translate_xpath("round(15 div ${slope}, 2)").expression)
    assert expression.evaluate({"slope": 4}) == Decimal("3.75")


def test_translated_regex_matches_whole_text() -> None:
    source = (
        "regex(., '^(([0-9]{1})*[- .(]*([0-9]{3})[- .)]*[0-9]{3}[- .]*[0-9]{4})+$')"
    )
    expression = parse(translate_xpath(source).expression)
    assert expression.evaluate({".": "0712 345 678"}) is False
    assert expression.evaluate({".": "071 234 5678"}) is True


def test_trigonometry_translates() -> None:
    translated = translate_xpath("round(15 div cos(atan(${slope} div 100)), 2)")
    assert translated.expression == "round(15 / cos(atan(slope / 100)), 2)"
    assert parse(translated.expression).evaluate({"slope": 0}) == 15
