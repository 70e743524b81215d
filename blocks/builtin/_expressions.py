"""Syntax checks of the expressions that block configs contain."""

from __future__ import annotations

from blocks.errors import ErrorCode, Problem
from blocks.expressions import ExpressionError, parse_cached


def check_expression(key: str, source: str) -> list[Problem]:
    """Return an ``INVALID_EXPRESSION`` problem at ``(key,)`` unless ``source`` parses.

    Only the syntax and the parsing limits are checked here. Whether the
    referenced block ids exist is checked by the definition validator, which
    has the whole definition.
    """
    try:
        parse_cached(source)
    except ExpressionError as error:
        where = "" if error.position is None else f" at character {error.position + 1}"
        return [
            Problem(
                (key,),
                ErrorCode.INVALID_EXPRESSION,
                f"Invalid expression in {key}{where}: {error.message}",
            )
        ]
    return []
