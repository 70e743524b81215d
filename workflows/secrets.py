"""Secret values that stay out of reprs, logs and error messages."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Secret", "redact"]

MASK = "********"


class Secret:
    """A password, token or API key; ``str`` and ``repr`` show only a mask.

    Call :meth:`reveal` at the one place that sends the value.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret value itself."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def redact(text: str, secrets: Iterable[Secret | None]) -> str:
    """Return ``text`` with every non-empty secret value replaced by a mask."""
    for secret in secrets:
        if secret is not None and secret.reveal():
            text = text.replace(secret.reveal(), MASK)
    return text
