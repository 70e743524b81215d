"""Sandboxed Jinja templates for the text that workflow steps send.

Workspace admins write templates for email subjects and bodies, SMS texts,
URLs, headers and JSON bodies. They render in Jinja's immutable sandbox over a
context of plain data (the record's data and the run context), with these
extra limits:

* a missing variable or key is an error that names it (StrictUndefined);
* attributes are reachable only on dicts, lists, tuples, strings and numbers,
  and a dict key wins over a method of the same name, so ``record.items``
  reads the field called "items";
* the output is cut off with an error past ``max_chars`` characters, and
  operators, filters and string methods that build large values in one step
  (``*``, ``**``, ``center``, ``format``...) are bounded or removed;
* HTML parts are autoescaped;
* one render may run at most ``MAX_OPERATIONS`` loop iterations and calls
  (every ``{% for %}`` counts each item, every call counts once) and at most
  ``MAX_RENDER_SECONDS`` seconds, so nested loops or recursive macros cannot
  hold the event loop.

:func:`check_template` runs when a definition is saved, so syntax errors
reach the admin with their line number before any run.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import StrictUndefined, nodes
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing

from blocks.errors import AppgraphError

__all__ = [
    "DEFAULT_MAX_CHARS",
    "MAX_OPERATIONS",
    "MAX_RENDER_SECONDS",
    "JsonValue",
    "TemplateBudgetError",
    "TemplateError",
    "TemplateOutputTooLargeError",
    "TemplateRenderError",
    "TemplateSyntaxError",
    "check_json_template",
    "check_template",
    "render_json_template",
    "render_template",
]

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]

DEFAULT_MAX_CHARS = 100_000
MAX_EXPONENT = 1_000
MAX_OPERATIONS = 100_000
"""Loop iterations plus calls that one render may run."""
MAX_RENDER_SECONDS = 5.0
"""Wall-clock seconds one render may take, checked at each counted operation."""

SAFE_TYPES = (dict, list, tuple, str, int, float, bool, type(None))

# Builders of long strings from a short template; a step never needs them.
UNSAFE_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
REMOVED_FILTERS = ("center", "indent", "wordwrap", "format", "filesizeformat")

SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expression>.*)\}\}\s*$", re.DOTALL)
TEMPLATE_FILENAME = "<template>"
_COUNT_FILTER = "_count_iterations"


class TemplateError(AppgraphError):
    """A template is invalid or failed to render; ``line`` is 1-based if known."""

    def __init__(
        self, message: str, *, line: int | None = None, path: str = ""
    ) -> None:
        self.line = line
        self.path = path
        self.detail = message
        where = " ".join(
            part
            for part in (f"at {path}" if path else "", f"line {line}" if line else "")
            if part
        )
        super().__init__(f"Template {where}: {message}" if where else message)


class TemplateSyntaxError(TemplateError):
    """The template source does not parse."""


class TemplateRenderError(TemplateError):
    """Rendering failed: a missing variable, an unsafe access or a bad value."""


class TemplateOutputTooLargeError(TemplateRenderError):
    """The rendered output is longer than the allowed number of characters."""


class TemplateBudgetError(TemplateRenderError):
    """A render ran more loop iterations and calls, or longer, than allowed.

    ``limit`` describes the exceeded limit, such as "100,000 loop iterations
    and calls".
    """

    def __init__(self, limit: str, *, line: int | None = None, path: str = "") -> None:
        self.limit = limit
        super().__init__(f"exceeded {limit}; simplify it", line=line, path=path)


@dataclass
class _RenderBudget:
    remaining: int
    deadline: float

    def charge(self, count: int = 1) -> None:
        self.remaining -= count
        if self.remaining < 0:
            raise TemplateBudgetError(f"{MAX_OPERATIONS:,} loop iterations and calls")
        if time.monotonic() > self.deadline:
            raise TemplateBudgetError(
                f"{MAX_RENDER_SECONDS:g} seconds of rendering time"
            )


_BUDGET: ContextVar[_RenderBudget | None] = ContextVar(
    "template_render_budget", default=None
)


@contextmanager
def _budget_scope() -> Iterator[None]:
    """Give the code inside a fresh budget, unless an outer render has one."""
    if _BUDGET.get() is not None:
        yield
        return
    budget = _RenderBudget(MAX_OPERATIONS, time.monotonic() + MAX_RENDER_SECONDS)
    token = _BUDGET.set(budget)
    try:
        yield
    finally:
        _BUDGET.reset(token)


def _charge(count: int = 1) -> None:
    budget = _BUDGET.get()
    if budget is None:
        # Only renders through this module's functions are bounded.
        raise TemplateRenderError("templates render only through render_template")
    budget.charge(count)


def _count_iterations(iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        _charge()
        yield item


class _Undefined(StrictUndefined):
    """StrictUndefined whose message names the variable or the missing key."""

    @property
    def _undefined_message(self) -> str:
        name = self._undefined_name
        owner = self._undefined_obj
        if self._undefined_hint:
            return self._undefined_hint
        if owner is missing:
            return f"variable {name!r} is undefined"
        if isinstance(owner, Mapping):
            keys = sorted(str(key) for key in owner)
            shown = ", ".join(keys[:10]) + (", ..." if len(keys) > 10 else "")
            return f"key {name!r} is missing (available keys: {shown or 'none'})"
        if isinstance(owner, list | tuple) and isinstance(name, int):
            return f"index {name} is out of range for a list of {len(owner)} items"
        return f"{type(owner).__name__} value has no attribute {name!r}"


class _RestrictedEnvironment(ImmutableSandboxedEnvironment):
    """Immutable sandbox limited to plain data, with bounded operators."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(
            undefined=_Undefined, autoescape=autoescape, keep_trailing_newline=True
        )
        for name in REMOVED_FILTERS:
            self.filters.pop(name, None)
        self.filters[_COUNT_FILTER] = _count_iterations

    def _parse(
        self, source: str, name: str | None, filename: str | None
    ) -> nodes.Template:
        # Every loop iterates through _count_iterations, which charges the
        # render's budget one operation per item. Sandboxes have no hook for
        # iteration, so the parsed tree is rewritten before compilation.
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(
                loop.iter, _COUNT_FILTER, [], [], None, None, lineno=loop.lineno
            )
        return tree

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        # Counting calls bounds recursive macros and recursive loops.
        _charge()
        return super().call(context, obj, *args, **kwargs)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not isinstance(obj, SAFE_TYPES) or attr in UNSAFE_METHODS:
            return False
        return bool(super().is_safe_attribute(obj, attr, value))

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and _is_number(right) and abs(right) > MAX_EXPONENT:
            raise TemplateRenderError(
                f"exponent {right} is larger than the maximum of {MAX_EXPONENT}"
            )
        if operator == "*":
            _check_repeat(left, right)
            _check_repeat(right, left)
        return super().call_binop(context, operator, left, right)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_repeat(sequence: Any, count: Any) -> None:
    if isinstance(sequence, str | list | tuple) and isinstance(count, int):
        if len(sequence) * count > DEFAULT_MAX_CHARS:
            raise TemplateOutputTooLargeError(
                f"repeating a value {count} times exceeds {DEFAULT_MAX_CHARS} items"
            )


_TEXT_ENVIRONMENT = _RestrictedEnvironment(autoescape=False)
_HTML_ENVIRONMENT = _RestrictedEnvironment(autoescape=True)


def check_template(source: str, *, path: str = "") -> None:
    """Raise TemplateSyntaxError, with the line number, if ``source`` is invalid."""
    try:
        _TEXT_ENVIRONMENT.parse(source)
    except jinja2.TemplateSyntaxError as error:
        raise TemplateSyntaxError(
            error.message or str(error), line=error.lineno, path=path
        ) from None


def check_json_template(template: JsonValue, *, path: str = "body") -> None:
    """Raise TemplateSyntaxError for the first invalid string in ``template``."""
    for leaf_path, source in _iter_strings(template, path):
        check_template(source, path=leaf_path)


def render_template(
    source: str,
    context: Mapping[str, Any],
    *,
    html: bool = False,
    max_chars: int = DEFAULT_MAX_CHARS,
    path: str = "",
) -> str:
    """Render ``source`` over ``context``; autoescape when ``html`` is true.

    Raises:
        TemplateSyntaxError: the source does not parse.
        TemplateRenderError: a variable is missing, an access is unsafe, an
            expression failed, or the output exceeds ``max_chars``.
    """
    environment = _HTML_ENVIRONMENT if html else _TEXT_ENVIRONMENT
    try:
        template = environment.from_string(source)
    except jinja2.TemplateSyntaxError as error:
        raise TemplateSyntaxError(
            error.message or str(error), line=error.lineno, path=path
        ) from None

    parts: list[str] = []
    length = 0
    with _render_errors(path), _budget_scope():
        for chunk in template.generate(dict(context)):
            length += len(chunk)
            if length > max_chars:
                raise TemplateOutputTooLargeError(
                    f"output is longer than {max_chars} characters"
                )
            parts.append(chunk)
    return "".join(parts)


def render_json_template(
    template: JsonValue,
    context: Mapping[str, Any],
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    path: str = "body",
) -> JsonValue:
    """Render every string of a JSON template and return the JSON value.

    A string that is exactly one expression, such as ``"{{ record.amount }}"``,
    becomes the expression's value (a number stays a number, a list stays a
    list). Any other string renders as text. Keys are kept as written. Because
    the result is built as data and encoded afterwards, no value can break the
    JSON structure.

    Raises:
        TemplateSyntaxError: a string does not parse.
        TemplateRenderError: rendering failed, a value is not JSON, or the
            encoded result exceeds ``max_chars``.
    """
    with _budget_scope():
        rendered = _render_json(template, dict(context), path, max_chars)
    encoded_length = len(json.dumps(rendered, ensure_ascii=False))
    if encoded_length > max_chars:
        raise TemplateOutputTooLargeError(
            f"JSON output is longer than {max_chars} characters", path=path
        )
    return rendered


def _render_json(
    template: JsonValue, context: dict[str, Any], path: str, max_chars: int
) -> JsonValue:
    if isinstance(template, dict):
        return {
            key: _render_json(value, context, f"{path}.{key}", max_chars)
            for key, value in template.items()
        }
    if isinstance(template, list):
        return [
            _render_json(value, context, f"{path}[{index}]", max_chars)
            for index, value in enumerate(template)
        ]
    if not isinstance(template, str):
        return template

    match = SINGLE_EXPRESSION.match(template)
    expression = match.group("expression") if match else None
    if expression is None or "{{" in expression or "}}" in expression:
        return render_template(template, context, max_chars=max_chars, path=path)
    return _evaluate(expression, context, path)


def _evaluate(expression: str, context: dict[str, Any], path: str) -> JsonValue:
    try:
        compiled = _TEXT_ENVIRONMENT.compile_expression(
            expression, undefined_to_none=False
        )
    except jinja2.TemplateSyntaxError as error:
        raise TemplateSyntaxError(
            error.message or str(error), line=error.lineno, path=path
        ) from None

    with _render_errors(path), _budget_scope():
        value = compiled(**context)
        if isinstance(value, jinja2.Undefined):
            str(value)  # StrictUndefined raises UndefinedError naming the variable.
    return _to_json(value, path)


def _to_json(value: Any, path: str) -> JsonValue:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TemplateRenderError(
                f"value {value} is not a valid JSON number", path=path
            )
        return value
    if isinstance(value, list | tuple):
        return [_to_json(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, Mapping):
        result: dict[str, JsonValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TemplateRenderError(
                    f"object key {key!r} is not a string", path=path
                )
            result[key] = _to_json(item, f"{path}.{key}")
        return result
    raise TemplateRenderError(
        f"expression produced a {type(value).__name__} value, which is not JSON",
        path=path,
    )


def _iter_strings(template: JsonValue, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(template, str):
        yield path, template
    elif isinstance(template, dict):
        for key, value in template.items():
            yield from _iter_strings(value, f"{path}.{key}")
    elif isinstance(template, list):
        for index, value in enumerate(template):
            yield from _iter_strings(value, f"{path}[{index}]")


@contextmanager
def _render_errors(path: str) -> Iterator[None]:
    """Turn errors raised inside template code into TemplateRenderError."""
    try:
        yield
    except TemplateError as error:
        if error.line is not None and error.path:
            raise
        line = error.line or _template_line(error)
        if isinstance(error, TemplateBudgetError):
            raise TemplateBudgetError(
                error.limit, line=line, path=error.path or path
            ) from None
        raise type(error)(error.detail, line=line, path=error.path or path) from None
    except Exception as error:
        raise TemplateRenderError(
            _describe(error), line=_template_line(error), path=path
        ) from None


def _describe(error: Exception) -> str:
    if isinstance(error, jinja2.exceptions.SecurityError):
        return f"unsafe operation: {error}"
    if isinstance(error, jinja2.UndefinedError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _template_line(error: BaseException) -> int | None:
    """Return the template line of the innermost template frame in the traceback."""
    line = None
    traceback = error.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == TEMPLATE_FILENAME:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line
