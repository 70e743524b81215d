"""Parse and follow the extract paths of ``external_api`` blocks."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from blocks.builtin._external_request import FETCH_FAILED
from blocks.builtin._support import config_problem
from blocks.errors import Problem, ValueProblem

_EXTRACT_STEP = re.compile(r"\[(-?[0-9]+)\]|([^.\[\]]+)")


def parse_extract_path(path: str) -> list[str | int]:
    """Parse an extract path into keys (str) and list indexes (int).

    The grammar, in EBNF::

        path  = [ step , { "." , key | index } ] ;
        step  = key | index ;
        key   = character - ( "." | "[" | "]" ) , { character - ( "." | "[" | "]" ) } ;
        index = "[" , [ "-" ] , digit , { digit } , "]" ;

    An empty path is the whole document. ``data.items[0].price`` reads key
    ``data``, then ``items``, its first element, then ``price``. A negative
    index counts from the end, so ``[-1]`` is the last element. Keys are
    taken literally, whitespace included. Nothing is evaluated.

    Raises:
        ValueError: the path does not match the grammar; the message gives
            the position.
    """
    steps: list[str | int] = []
    position = 0
    while position < len(path):
        if steps and path[position] == ".":
            position += 1
        elif steps and path[position] != "[":
            raise ValueError(
                f"expected '.' or '[' at character {position + 1} of {path!r}"
            )
        match = _EXTRACT_STEP.match(path, position)
        if match is None:
            raise ValueError(
                f"expected a key or [index] at character {position + 1} of {path!r}"
            )
        index, key = match.groups()
        steps.append(int(index) if index is not None else key)
        position = match.end()
    return steps


def check_path(key: str, path: str) -> list[Problem]:
    try:
        parse_extract_path(path)
    except ValueError as error:
        return [
            config_problem(
                (key,),
                f"Invalid path in {key}: {error}. Write keys separated by dots "
                "and list indexes in brackets, such as data.items[0].price.",
            )
        ]
    return []


def follow_path(document: Any, path: str, host: str) -> Any:
    current = document
    for step in parse_extract_path(path):
        if isinstance(step, int):
            if not isinstance(current, list):
                raise shape_problem(host, path, f"expected a list at {step}")
            if not -len(current) <= step < len(current):
                raise shape_problem(
                    host,
                    path,
                    f"index {step} is out of range for a list of {len(current)}",
                )
            current = current[step]
        else:
            if not isinstance(current, Mapping) or step not in current:
                raise shape_problem(host, path, f"key {step!r} is missing")
            current = current[step]
    return current


def shape_problem(host: str, path: str, reason: str) -> ValueProblem:
    return ValueProblem(
        FETCH_FAILED,
        f"The response of the external API at {host} has no value at "
        f"{path or 'the top level'}: {reason}.",
    )
