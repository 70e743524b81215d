from __future__ import annotations

import json
from typing import Any

import pytest

from workflows.templates import (
    JsonValue,
    TemplateBudgetError,
    TemplateOutputTooLargeError,
    TemplateRenderError,
    TemplateSyntaxError,
    check_json_template,
    check_template,
    render_json_template,
    render_template,
)

CONTEXT: dict[str, Any] = {
    "record": {
        "name": "Ada <Lovelace>",
        "amount": 12.5,
        "tags": ["a", "b"],
        "items": [{"sku": "x1"}, {"sku": "x2"}],
        "approved": True,
    },
    "run": {"id": "run-1"},
}


class Opaque:
    secret = "hidden"

    def __str__(self) -> str:
        return "opaque"


def test_render_text_plain() -> None:
    result = render_template("Hello {{ record.name }} ({{ run.id }})", CONTEXT)

    assert result == "Hello Ada <Lovelace> (run-1)"


def test_render_html_escapes() -> None:
    result = render_template("<b>{{ record.name }}</b>", CONTEXT, html=True)

    assert result == "<b>Ada &lt;Lovelace&gt;</b>"


def test_dict_key_beats_method() -> None:
    result = render_template(
        "{% for i in record.items %}{{ i.sku }};{% endfor %}", CONTEXT
    )

    assert result == "x1;x2;"


def test_str_and_list_methods_allowed() -> None:
    result = render_template(
        "{{ record.name.upper() }} {{ record.tags|join(',') }}", CONTEXT
    )

    assert result == "ADA <LOVELACE> a,b"


def test_missing_variable_named() -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render_template("line one\nHello {{ customer }}", CONTEXT)

    assert str(caught.value) == "Template line 2: variable 'customer' is undefined"
    assert caught.value.line == 2


def test_missing_key_lists_keys() -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render_template("{{ run.step }}", CONTEXT)

    assert str(caught.value) == (
        "Template line 1: key 'step' is missing (available keys: id)"
    )


def test_index_out_of_range() -> None:
    with pytest.raises(
        TemplateRenderError, match="index 5 is out of range for a list of 2"
    ):
        render_template("{{ record.tags[5] }}", CONTEXT)


def test_object_attribute_rejected() -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render_template("{{ thing.secret }}", {"thing": Opaque()})

    assert "unsafe operation: access to attribute 'secret' of 'Opaque' object" in str(
        caught.value
    )


@pytest.mark.parametrize(
    "source",
    [
        "{{ record.__class__ }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ record.tags.append(1) }}",
        "{{ record.pop('name') }}",
        "{{ 'x'.center(10) }}",
    ],
)
def test_unsafe_access_rejected(source: str) -> None:
    with pytest.raises(TemplateRenderError, match="unsafe operation"):
        render_template(source, CONTEXT)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ 'x' * 1000000 }}", "repeating a value 1000000 times exceeds 100000 items"),
        ("{{ 10 ** 100000 }}", "exponent 100000 is larger than the maximum of 1000"),
        ("{% for i in range(200000) %}{% endfor %}", "Range too big"),
        ("{{ 'x'|center(10) }}", "No filter named 'center'"),
    ],
)
def test_large_value_builders_rejected(source: str, message: str) -> None:
    with pytest.raises((TemplateRenderError, TemplateSyntaxError), match=message):
        render_template(source, CONTEXT)


def test_output_size_bounded() -> None:
    source = "{% for i in range(1000) %}{{ record.name }}{% endfor %}"

    with pytest.raises(TemplateOutputTooLargeError) as caught:
        render_template(source, CONTEXT, max_chars=500)

    assert str(caught.value) == "output is longer than 500 characters"


def test_expression_error_reported() -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render_template("a\nb\n{{ 1 / 0 }}", CONTEXT)

    assert str(caught.value) == "Template line 3: ZeroDivisionError: division by zero"


def test_check_template_syntax_line() -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        check_template("Hello\n{% if record.approved %}\nyes", path="subject")

    assert caught.value.line == 2
    assert str(caught.value).startswith("Template at subject line 2: Unexpected end")


def test_check_template_accepts_valid() -> None:
    check_template("{% if record.approved %}{{ record.name }}{% endif %}")


def test_json_template_keeps_types() -> None:
    template: JsonValue = {
        "amount": "{{ record.amount }}",
        "tags": "{{ record.tags }}",
        "approved": "{{ record.approved }}",
        "text": 'Hi {{ record.name }}, "quoted"',
        "fixed": [1, None, "{{ run.id }}"],
    }

    rendered = render_json_template(template, CONTEXT)

    assert rendered == {
        "amount": 12.5,
        "tags": ["a", "b"],
        "approved": True,
        "text": 'Hi Ada <Lovelace>, "quoted"',
        "fixed": [1, None, "run-1"],
    }
    assert json.loads(json.dumps(rendered)) == rendered


def test_json_template_injection_stays_string() -> None:
    context = {"name": '", "admin": true, "x": "'}

    rendered = render_json_template(
        {"name": "{{ name }}", "label": "n={{ name }}"}, context
    )

    assert rendered == {"name": context["name"], "label": "n=" + context["name"]}


def test_json_template_missing_variable_path() -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render_json_template({"to": ["{{ phone }}"]}, CONTEXT)

    assert str(caught.value) == "Template at body.to[0]: variable 'phone' is undefined"


def test_json_template_rejects_non_json_value() -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render_json_template({"x": "{{ thing }}"}, {"thing": Opaque()})

    assert str(caught.value) == (
        "Template at body.x: expression produced a Opaque value, which is not JSON"
    )


def test_json_template_output_bounded() -> None:
    with pytest.raises(
        TemplateOutputTooLargeError, match="JSON output is longer than 20"
    ):
        render_json_template({"tags": "{{ record.items }}"}, CONTEXT, max_chars=20)


def test_check_json_template_path() -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        check_json_template({"a": {"b": ["ok", "{{ broken "]}})

    assert caught.value.path == "body.a.b[1]"
    assert str(caught.value).startswith("Template at body.a.b[1] line 1: ")


BUDGET_MESSAGE = "exceeded 100,000 loop iterations and calls; simplify it"


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(50000) %}{% for j in range(50000) %}{% endfor %}"
        "{% endfor %}done",
        "{% for a in record.name * 1000 %}{% for b in record.name * 1000 %}"
        "{% endfor %}{% endfor %}",
        "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}"
        "{% endmacro %}{{ f(40) }}",
        "{% for i in range(60000) %}{% endfor %}{% for i in range(60000) %}"
        "{% endfor %}",
    ],
)
def test_loop_budget_exceeded(source: str) -> None:
    with pytest.raises(TemplateBudgetError) as caught:
        render_template(source, CONTEXT, path="text")

    assert str(caught.value) == f"Template at text line 1: {BUDGET_MESSAGE}"
    assert caught.value.limit == "100,000 loop iterations and calls"


def test_loop_budget_allows_normal_loops() -> None:
    source = "{% for i in range(3) if i > 0 %}{{ i }}{% else %}none{% endfor %}"

    assert render_template(source, CONTEXT) == "12"
    assert render_template("{% for i in range(99000) %}{% endfor %}ok", CONTEXT) == (
        "ok"
    )


def test_loop_budget_fresh_per_render() -> None:
    source = "{% for i in range(90000) %}{% endfor %}ok"

    assert render_template(source, CONTEXT) == "ok"
    assert render_template(source, CONTEXT) == "ok"


def test_json_template_shares_budget() -> None:
    loop = "{% for i in range(60000) %}{% endfor %}x"

    with pytest.raises(TemplateBudgetError) as caught:
        render_json_template({"a": loop, "b": loop}, CONTEXT)

    assert str(caught.value) == f"Template at body.b line 1: {BUDGET_MESSAGE}"
