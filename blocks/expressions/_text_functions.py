"""String functions: conversion, case, trimming, search, substr, regex, join, split."""

from __future__ import annotations

import regex as regex_module

from ._context import CallContext
from ._values import (
    describe,
    format_value,
    list_items,
    list_limit_error,
    require_integer,
    require_string,
    string_limit_error,
    values_equal,
)
from .errors import ExpressionEvaluationError, ExpressionLimitError

REGEX_MAX_PATTERN_LENGTH = 500
REGEX_MAX_INPUT_LENGTH = 10_000


def concat(context: CallContext, *values: object) -> object:
    """Join the string forms of ``values``. Null counts as ''."""
    context.charge_steps(len(values))
    max_length = context.limits.max_string_length
    parts: list[str] = []
    total = 0
    for value in values:
        part = format_value(value, max_length)
        total += len(part)
        if total > max_length:
            raise string_limit_error(max_length)
        parts.append(part)
    return "".join(parts)


def to_string(context: CallContext, value: object) -> object:
    """Convert ``value`` to a string. Null becomes ''."""
    return format_value(value, context.limits.max_string_length)


def lower(context: CallContext, value: object) -> object:
    """Convert a string to lower case. Null stays null."""
    if value is None:
        return None
    return context.check_string(require_string(value, "lower()").lower())


def upper(context: CallContext, value: object) -> object:
    """Convert a string to upper case. Null stays null."""
    if value is None:
        return None
    return context.check_string(require_string(value, "upper()").upper())


def trim(context: CallContext, value: object) -> object:
    """Strip leading and trailing whitespace. Null stays null."""
    if value is None:
        return None
    return require_string(value, "trim()").strip()


def contains(context: CallContext, haystack: object, needle: object) -> object:
    """Test whether a string contains a substring, or a list contains an item.

    A null haystack or needle gives false.
    """
    if haystack is None or needle is None:
        return False
    if isinstance(haystack, list | tuple):
        context.charge_steps(len(haystack))
        return any(values_equal(item, needle) for item in list_items(haystack))
    text = require_string(haystack, "contains() as its first argument")
    return require_string(needle, "contains() as its second argument") in text


def starts_with(context: CallContext, value: object, prefix: object) -> object:
    """Test whether a string starts with ``prefix``. Null gives false."""
    if value is None or prefix is None:
        return False
    text = require_string(value, "starts_with() as its first argument")
    return text.startswith(
        require_string(prefix, "starts_with() as its second argument")
    )


def ends_with(context: CallContext, value: object, suffix: object) -> object:
    """Test whether a string ends with ``suffix``. Null gives false."""
    if value is None or suffix is None:
        return False
    text = require_string(value, "ends_with() as its first argument")
    return text.endswith(require_string(suffix, "ends_with() as its second argument"))


def substr(
    context: CallContext, value: object, start: object, length: object = None
) -> object:
    """Return ``length`` characters from 0-based ``start``, or the rest of the string.

    Positions past the end give a shorter or empty string. Null stays null.
    """
    if value is None:
        return None
    text = require_string(value, "substr() as its first argument")
    begin = require_integer(start, "substr() as its start")
    if begin < 0:
        raise ExpressionEvaluationError(
            f"substr() needs a start of 0 or more, got {begin}."
        )
    if length is None:
        return text[begin:]
    count = require_integer(length, "substr() as its length")
    if count < 0:
        raise ExpressionEvaluationError(
            f"substr() needs a length of 0 or more, got {count}."
        )
    return text[begin : begin + count]


def regex(context: CallContext, value: object, pattern: object) -> object:
    """Test whether the whole string matches a Python regular expression.

    A null value gives false. The pattern uses the syntax of Python's ``re``
    module (matched with the compatible ``regex`` package, which has a timeout).
    """
    source = require_string(pattern, "regex() as its pattern")
    if len(source) > REGEX_MAX_PATTERN_LENGTH:
        raise ExpressionLimitError(
            "regex_max_pattern_length",
            REGEX_MAX_PATTERN_LENGTH,
            f"regex() pattern is {len(source)} characters long, more than the limit "
            f"of {REGEX_MAX_PATTERN_LENGTH}.",
        )
    try:
        compiled = regex_module.compile(source)
    except regex_module.error as error:
        raise ExpressionEvaluationError(
            f"regex() pattern {describe(source)} is invalid: {error}."
        ) from None
    if value is None:
        return False
    text = require_string(value, "regex() as its value")
    if len(text) > REGEX_MAX_INPUT_LENGTH:
        raise ExpressionLimitError(
            "regex_max_input_length",
            REGEX_MAX_INPUT_LENGTH,
            f"regex() value is {len(text)} characters long, more than the limit of "
            f"{REGEX_MAX_INPUT_LENGTH}.",
        )
    # The regex package, unlike re, stops a match after a timeout, so a
    # pattern with nested quantifiers such as (a+)+ cannot block the worker.
    try:
        matched = compiled.fullmatch(text, timeout=context.limits.timeout_seconds)
    except TimeoutError:
        raise ExpressionLimitError(
            "timeout_seconds",
            context.limits.timeout_seconds,
            f"regex() pattern {describe(source)} took longer than "
            f"{context.limits.timeout_seconds} s on a value of {len(text)} "
            "characters; simplify the pattern.",
        ) from None
    return matched is not None


def join(context: CallContext, separator: object, values: object) -> object:
    """Join the string forms of list items with ``separator``. Null items count as ''.

    A null list gives ''.
    """
    glue = require_string(separator, "join() as its separator")
    if values is None:
        return ""
    if not isinstance(values, list | tuple):
        raise ExpressionEvaluationError(
            f"join() needs a list as its second argument, got {describe(values)}."
        )
    context.charge_steps(len(values))
    max_length = context.limits.max_string_length
    parts: list[str] = []
    total = -len(glue)
    for item in list_items(values):
        part = format_value(item, max_length)
        total += len(glue) + len(part)
        if total > max_length:
            raise string_limit_error(max_length)
        parts.append(part)
    return glue.join(parts)


def split(context: CallContext, value: object, separator: object) -> object:
    """Split a string at every ``separator``. Null and '' give an empty list."""
    glue = require_string(separator, "split() as its separator")
    if glue == "":
        raise ExpressionEvaluationError("split() needs a non-empty separator.")
    if value is None:
        return []
    text = require_string(value, "split() as its first argument")
    if text == "":
        return []
    # The item count is known before splitting, so an oversized result is
    # rejected without building it.
    count = text.count(glue) + 1
    if count > context.limits.max_list_length:
        raise list_limit_error(context.limits.max_list_length)
    context.charge_steps(count)
    parts: list[object] = list(text.split(glue))
    return parts
