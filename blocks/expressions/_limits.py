"""Bounds on the size of expressions and the work spent evaluating them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

# Each nesting level costs the parser and the evaluator a few Python frames,
# so this cap keeps both well below Python's default recursion limit of 1000
# when the caller's own stack is deep. A test evaluates depth 100 with the
# recursion limit lowered to 600.
MAX_DEPTH_CAP = 100


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Limits:
    """Bounds checked while parsing and evaluating one expression.

    Exceeding any of them raises ``ExpressionLimitError`` naming the field.
    Instances are hashable, so they can be part of a cache key.

    Attributes:
        max_source_length: Maximum length of the source text, in characters.
        max_nodes: Maximum number of nodes in the syntax tree.
        max_depth: Maximum nesting depth: parentheses, operands, arguments,
            list items and indexes each add one level. At most 100.
        max_steps: Maximum evaluation steps. Each evaluated node is one step,
            and functions and operators that walk a list add one step per item.
        max_string_length: Maximum length, in characters, of a string that an
            operator or function builds.
        max_list_length: Maximum number of items of a list that a list literal,
            a function or a field access over a list builds.
        timeout_seconds: Maximum wall-clock time of one evaluation, in seconds.
            It is checked every 16 steps, so one slow step (a long regular
            expression match, for example) can overrun it.
        clock: Function returning the current aware datetime, used by
            ``today()`` and ``now()``. Tests replace it to get fixed dates.
    """

    max_source_length: int = 4_000
    max_nodes: int = 500
    max_depth: int = 50
    max_steps: int = 10_000
    max_string_length: int = 10_000
    max_list_length: int = 1_000
    timeout_seconds: float = 0.05
    clock: Callable[[], datetime] = utc_now

    def __post_init__(self) -> None:
        """Reject limits that are not positive or that would overflow the stack."""
        counts = {
            "max_source_length": self.max_source_length,
            "max_nodes": self.max_nodes,
            "max_depth": self.max_depth,
            "max_steps": self.max_steps,
            "max_string_length": self.max_string_length,
            "max_list_length": self.max_list_length,
        }
        for name, value in counts.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"Limits.{name} must be a positive integer, got {value!r}."
                )
        if self.max_depth > MAX_DEPTH_CAP:
            raise ValueError(
                f"Limits.max_depth must be at most {MAX_DEPTH_CAP}, "
                f"got {self.max_depth}."
            )
        if not self.timeout_seconds > 0:
            raise ValueError(
                "Limits.timeout_seconds must be positive, "
                f"got {self.timeout_seconds!r}."
            )


DEFAULT_LIMITS = Limits()
