"""Tokenizer: split expression source into tokens with their offsets."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal

from .errors import ExpressionSyntaxError

KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})

# Python 3.11 refuses to convert longer digit strings to int (see
# sys.get_int_max_str_digits), so longer literals are rejected up front.
MAX_INTEGER_DIGITS = 4_300

_OPERATORS = ("==", "!=", "<=", ">=", "=", "<", ">", "+", "-", "*", "/", "%")
_PUNCTUATION = "()[],."
_ESCAPES = {
    "\\": "\\",
    "'": "'",
    '"': '"',
    "/": "/",
    "n": "\n",
    "t": "\t",
    "r": "\r",
}
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
# Hints for spellings that other expression languages use.
_CHARACTER_HINTS = {
    "!": "Use 'not' for negation and '!=' for inequality.",
    "&": "Use 'and' to combine conditions.",
    "|": "Use 'or' to combine conditions.",
    "$": "Write block ids that contain other characters as ${block-id}.",
}


class TokenKind(enum.Enum):
    """Kind of a token."""

    NUMBER = "number"
    STRING = "string"
    NAME = "name"
    BRACED_NAME = "braced name"
    KEYWORD = "keyword"
    OPERATOR = "operator"
    PUNCTUATION = "punctuation"
    END = "end of expression"


@dataclass(frozen=True, slots=True)
class Token:
    """One token of the source.

    Attributes:
        kind: Kind of the token.
        text: Source text of the token, or its decoded value for strings
            and braced names.
        position: 0-based offset of the token's first character.
        value: Parsed value of a number or string literal, else None.
    """

    kind: TokenKind
    text: str
    position: int
    value: int | Decimal | str | None = None

    def describe(self) -> str:
        """Return the token as error messages show it."""
        if self.kind is TokenKind.END:
            return "end of expression"
        if self.kind is TokenKind.NUMBER:
            return f"number {self.text}"
        if self.kind is TokenKind.STRING:
            return f"string {quote(self.text)}"
        if self.kind is TokenKind.NAME:
            return f"name {quote(self.text)}"
        if self.kind is TokenKind.BRACED_NAME:
            return f"${{{self.text}}}"
        return quote(self.text)

    def is_symbol(self, text: str) -> bool:
        """Return whether this is the keyword, operator or punctuation ``text``."""
        return self.text == text and self.kind in (
            TokenKind.KEYWORD,
            TokenKind.OPERATOR,
            TokenKind.PUNCTUATION,
        )


def quote(text: str, max_length: int = 40) -> str:
    """Return ``text`` in single quotes, shortened for error messages."""
    if len(text) > max_length:
        text = text[: max_length - 3] + "..."
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def parse_number_text(text: str) -> int | Decimal:
    """Convert digits with an optional fraction and sign to int or Decimal.

    Raises:
        ValueError: ``text`` is not such a number, or it has more than
            MAX_INTEGER_DIGITS digits.
    """
    body = text[1:] if text[:1] in ("+", "-") else text
    whole, dot, fraction = body.partition(".")
    if not _is_ascii_digits(whole) or (dot and not _is_ascii_digits(fraction)):
        raise ValueError(f"Invalid number {text!r}.")
    if len(whole) + len(fraction) > MAX_INTEGER_DIGITS:
        raise ValueError(f"Number has more than {MAX_INTEGER_DIGITS} digits.")
    if dot:
        return Decimal(text)
    return int(text)


def _is_ascii_digits(text: str) -> bool:
    return text != "" and text.isascii() and text.isdigit()


def _is_name_start(character: str) -> bool:
    return character.isascii() and (character.isalpha() or character == "_")


def _is_name_part(character: str) -> bool:
    return character.isascii() and (character.isalnum() or character == "_")


def tokenize(source: str) -> list[Token]:
    """Split ``source`` into tokens, ending with one END token.

    Raises:
        ExpressionSyntaxError: the source contains a character, string or
            number that is not valid here.
    """
    tokens: list[Token] = []
    position = 0
    length = len(source)
    while position < length:
        character = source[position]
        if character.isspace():
            position += 1
        elif character.isascii() and character.isdigit():
            token = _read_number(source, position)
            tokens.append(token)
            position += len(token.text)
        elif _is_name_start(character):
            end = position + 1
            while end < length and _is_name_part(source[end]):
                end += 1
            text = source[position:end]
            kind = TokenKind.KEYWORD if text in KEYWORDS else TokenKind.NAME
            tokens.append(Token(kind, text, position))
            position = end
        elif character in ("'", '"'):
            token, position = _read_string(source, position)
            tokens.append(token)
        elif source.startswith("${", position):
            token, position = _read_braced_name(source, position)
            tokens.append(token)
        elif character in _PUNCTUATION:
            tokens.append(Token(TokenKind.PUNCTUATION, character, position))
            position += 1
        else:
            operator = next(
                (op for op in _OPERATORS if source.startswith(op, position)), None
            )
            if operator is None:
                hint = _CHARACTER_HINTS.get(character, "")
                message = (
                    f"Unexpected character {quote(character)} at position {position}."
                )
                raise ExpressionSyntaxError(f"{message} {hint}".rstrip(), position)
            tokens.append(Token(TokenKind.OPERATOR, operator, position))
            position += len(operator)
    tokens.append(Token(TokenKind.END, "", length))
    return tokens


def _read_number(source: str, start: int) -> Token:
    end = start
    while end < len(source) and source[end].isascii() and source[end].isdigit():
        end += 1
    # A dot starts a fraction only when a digit follows, so "rows.0" style
    # member access and a trailing dot are left to the parser.
    if (
        end + 1 < len(source)
        and source[end] == "."
        and source[end + 1].isascii()
        and source[end + 1].isdigit()
    ):
        end += 1
        while end < len(source) and source[end].isascii() and source[end].isdigit():
            end += 1
    text = source[start:end]
    try:
        value = parse_number_text(text)
    except ValueError:
        raise ExpressionSyntaxError(
            f"Number at position {start} has more than {MAX_INTEGER_DIGITS} digits.",
            start,
        ) from None
    return Token(TokenKind.NUMBER, text, start, value)


def _read_string(source: str, start: int) -> tuple[Token, int]:
    quote_character = source[start]
    parts: list[str] = []
    position = start + 1
    while position < len(source):
        character = source[position]
        if character == quote_character:
            text = "".join(parts)
            return Token(TokenKind.STRING, text, start, text), position + 1
        if character != "\\":
            parts.append(character)
            position += 1
            continue
        escape = source[position + 1 : position + 2]
        if escape in _ESCAPES:
            parts.append(_ESCAPES[escape])
            position += 2
        elif escape == "u":
            digits = source[position + 2 : position + 6]
            if len(digits) != 4 or not set(digits) <= _HEX_DIGITS:
                raise ExpressionSyntaxError(
                    f"Invalid escape at position {position}: expected 4 hex digits "
                    "after '\\u'.",
                    position,
                )
            parts.append(chr(int(digits, 16)))
            position += 6
        elif escape == "":
            break
        else:
            raise ExpressionSyntaxError(
                f"Invalid escape '\\{escape}' at position {position}. "
                "Valid escapes are \\\\ \\' \\\" \\/ \\n \\t \\r and \\uXXXX.",
                position,
            )
    raise ExpressionSyntaxError(
        f"Unterminated string starting at position {start}: expected a closing "
        f"{quote_character!r} before the end of the expression.",
        start,
    )


def _read_braced_name(source: str, start: int) -> tuple[Token, int]:
    end = source.find("}", start + 2)
    if end == -1:
        raise ExpressionSyntaxError(
            f"Unterminated block id starting at position {start}: expected '}}' "
            "before the end of the expression.",
            start,
        )
    name = source[start + 2 : end]
    if name == "":
        raise ExpressionSyntaxError(
            f"Empty block id '${{}}' at position {start}: write the id between "
            "the braces.",
            start,
        )
    return Token(TokenKind.BRACED_NAME, name, start), end + 1
