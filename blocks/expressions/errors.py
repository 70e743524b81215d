"""Errors raised while parsing and evaluating expressions."""

from __future__ import annotations

from blocks.errors import AppgraphError


class ExpressionError(AppgraphError):
    """Base class of every error raised by the expression language.

    Attributes:
        position: 0-based character offset in the source where the problem
            was found, or None when it concerns the expression as a whole.
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


class ExpressionSyntaxError(ExpressionError):
    """Raised when the source is not a valid expression.

    Unknown functions and wrong argument counts are syntax errors too, because
    the parser checks every call against the function registry.
    """

    position: int

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message, position)


class ExpressionEvaluationError(ExpressionError):
    """Raised when a valid expression fails while it is evaluated.

    Type mismatches, division by zero and invalid function arguments raise
    this error. ``position`` is the offset of the operator or call that failed.
    """


class ExpressionLimitError(ExpressionError):
    """Raised when parsing or evaluation exceeds one of the :class:`Limits`.

    Attributes:
        limit: Name of the exceeded ``Limits`` field, such as ``"max_steps"``,
            or of a fixed limit of a function, such as ``"regex_max_pattern_length"``.
        value: Value of that limit.
    """

    def __init__(
        self,
        limit: str,
        value: int | float,
        message: str,
        position: int | None = None,
    ) -> None:
        super().__init__(message, position)
        self.limit = limit
        self.value = value
