"""Interface that the evaluator offers to built-in functions."""

from __future__ import annotations

from typing import Protocol

from ._limits import Limits


class CallContext(Protocol):
    """Evaluation state that a function implementation may use."""

    @property
    def limits(self) -> Limits:
        """Limits of the running evaluation."""
        ...

    def charge_steps(self, count: int) -> None:
        """Count ``count`` evaluation steps, such as one per list item processed.

        Raises:
            ExpressionLimitError: the step limit or the timeout is exceeded.
        """
        ...

    def check_string(self, text: str) -> str:
        """Return ``text`` unless it is longer than ``limits.max_string_length``."""
        ...

    def check_list(self, items: list[object]) -> list[object]:
        """Return ``items`` unless it is longer than ``limits.max_list_length``."""
        ...

    def row_index(self) -> object:
        """Return the env value of ``"@index"``, the 1-based row number, or None."""
        ...
