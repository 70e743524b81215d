"""Translation of XLSForm XPath expressions into appgraph expressions.

XLSForm columns such as ``relevant``, ``constraint``, ``calculation`` and
``choice_filter`` hold XPath 1.0 with ODK extensions and ``${name}``
references. This module tokenizes and parses the subset that forms use and
writes the equivalent text in the language of :mod:`blocks.expressions`.
Anything without an equivalent (absolute paths, predicates, ``pulldata()``
and the other functions listed in ``_UNSUPPORTED_FUNCTIONS``) raises
:class:`XPathTranslationError` naming the construct.

Every translation is parsed with :func:`blocks.expressions.parse` before it is
returned, so a returned expression always parses.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from blocks.errors import AppgraphError
from blocks.expressions import ExpressionError, parse

ResultKind = Literal["number", "boolean", "text"]


class XPathTranslationError(AppgraphError):
    """Raised when an XPath expression cannot be translated.

    Attributes:
        message: Sentence saying what could not be translated and what to do.
        construct: The untranslatable function or construct, such as
            ``"pulldata()"`` or ``"absolute path"``.
        position: 0-based offset in the XPath source, or None.
    """

    def __init__(self, message: str, construct: str, position: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.construct = construct
        self.position = position


@dataclass(frozen=True)
class Translation:
    """An XPath expression rewritten as an appgraph expression.

    Attributes:
        expression: Source text in the appgraph expression language.
        result: What the expression computes, or None when the expression
            alone does not determine it (a bare reference, ``today()``).
        references: XLSForm names referenced as ``${name}``, in order of first
            use.
        option_columns: Choices-sheet columns that a choice filter reads, in
            order of first use.
        sole_reference: The name when the whole expression is one reference,
            else None.
    """

    expression: str
    result: ResultKind | None
    references: tuple[str, ...]
    option_columns: tuple[str, ...] = ()
    sole_reference: str | None = None


ReferencePath = Callable[[str], Sequence[str]]
"""Maps an XLSForm name to the field path that reaches it, like ``("trees", "dbh")``."""


def translate_xpath(
    source: str,
    *,
    choice_filter: bool = False,
    reference_path: ReferencePath | None = None,
) -> Translation:
    """Translate the XPath expression ``source`` into an appgraph expression.

    Args:
        source: XPath text from an XLSForm cell.
        choice_filter: Whether ``source`` is a ``choice_filter``. A bare name
            there is a column of the choices sheet: ``region`` becomes
            ``option.region``, and ``name`` becomes ``option.value``.
        reference_path: Maps ``${name}`` to the field path written in its
            place. The default writes the name alone.

    Raises:
        XPathTranslationError: ``source`` is not valid XPath, or it uses a
            construct that appgraph expressions have no equivalent for.
    """
    tree = _Parser(_tokenize(source)).parse()
    emitter = _Emitter(choice_filter, reference_path or _single_name)
    output = emitter.emit(tree)
    try:
        parse(output.text)
    except ExpressionError as error:
        raise XPathTranslationError(
            f"The translation {output.text!r} is not a valid appgraph expression: "
            f"{error.message} {_REWRITE}",
            "expression",
            None,
        ) from error
    return Translation(
        expression=output.text,
        result=output.kind,
        references=tuple(emitter.references),
        option_columns=tuple(emitter.option_columns),
        sole_reference=_sole_reference(tree),
    )


def _sole_reference(tree: _Node) -> str | None:
    if isinstance(tree, _Reference):
        return tree.name
    if isinstance(tree, _Path) and len(tree.steps) == 2 and tree.steps[0] == "..":
        return tree.steps[1]
    return None


def _single_name(name: str) -> Sequence[str]:
    return (name,)


# Tokenizer -------------------------------------------------------------------

_Kind = Literal["reference", "string", "number", "name", "symbol", "end"]


class _Token(NamedTuple):
    kind: _Kind
    text: str
    position: int


_SYMBOLS = ("!=", "<=", ">=", "//", "..", "::", *"=<>+-*|/()[],.@$")
_SMART_QUOTES = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'}
# An XML name: letters, digits, '_', '-' and '.', not starting with a digit,
# '-' or '.'. A single ':' joins a prefix such as jr: to a local name.
_NAME = re.compile(r"[^\W\d][\w.-]*(?::[^\W\d][\w.-]*)?")
_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")


def _tokenize(source: str) -> list[_Token]:
    text = "".join(_SMART_QUOTES.get(character, character) for character in source)
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        character = text[position]
        if character.isspace():
            position += 1
        elif text.startswith("${", position):
            end = text.find("}", position)
            if end == -1:
                raise XPathTranslationError(
                    f"The reference starting at character {position + 1} has no "
                    "closing '}'. Write references as ${name}.",
                    "reference",
                    position,
                )
            tokens.append(_Token("reference", text[position + 2 : end], position))
            position = end + 1
        elif character in "'\"":
            end = text.find(character, position + 1)
            if end == -1:
                raise XPathTranslationError(
                    f"The string starting at character {position + 1} has no "
                    f"closing {character}. Close the string with the same quote "
                    "character.",
                    "string",
                    position,
                )
            tokens.append(_Token("string", text[position + 1 : end], position))
            position = end + 1
        elif number := _NUMBER.match(text, position):
            tokens.append(_Token("number", number.group(), position))
            position = number.end()
        elif name := _NAME.match(text, position):
            tokens.append(_Token("name", name.group(), position))
            position = name.end()
        else:
            symbol = next((s for s in _SYMBOLS if text.startswith(s, position)), None)
            if symbol is None:
                raise XPathTranslationError(
                    f"Unexpected character {character!r} at character "
                    f"{position + 1}. Check the expression for typing errors.",
                    "character",
                    position,
                )
            tokens.append(_Token("symbol", symbol, position))
            position += len(symbol)
    tokens.append(_Token("end", "", len(text)))
    return tokens


# Syntax tree -----------------------------------------------------------------


@dataclass(frozen=True)
class _Number:
    text: str


@dataclass(frozen=True)
class _String:
    value: str


@dataclass(frozen=True)
class _Reference:
    name: str


@dataclass(frozen=True)
class _Path:
    """A location path: ``.``, ``..``, ``../name``, ``name`` or ``/data/name``."""

    absolute: bool
    steps: tuple[str, ...]
    position: int

    @property
    def text(self) -> str:
        return ("/" if self.absolute else "") + "/".join(self.steps)


@dataclass(frozen=True)
class _Call:
    name: str
    arguments: tuple[_Node, ...]
    position: int


@dataclass(frozen=True)
class _Binary:
    operator: str
    left: _Node
    right: _Node


@dataclass(frozen=True)
class _Negation:
    operand: _Node


_Node = _Number | _String | _Reference | _Path | _Call | _Binary | _Negation

# Operator levels of XPath 1.0, loosest first. div, mod, and, or are names
# that act as operators only where an operator is expected.
_XPATH_LEVELS: tuple[frozenset[str], ...] = (
    frozenset({"or"}),
    frozenset({"and"}),
    frozenset({"=", "!="}),
    frozenset({"<", "<=", ">", ">="}),
    frozenset({"+", "-"}),
    frozenset({"*", "div", "mod"}),
)
# XPath node-type tests look like calls but select nodes.
_NODE_TESTS = frozenset({"node", "text", "comment", "processing-instruction"})


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self._tokens = tokens
        self._index = 0

    def parse(self) -> _Node:
        if self._peek().kind == "end":
            raise XPathTranslationError(
                "The expression is empty. Write an expression or clear the cell.",
                "empty expression",
                0,
            )
        node = self._parse_level(0)
        token = self._peek()
        if token.kind != "end":
            raise self._unexpected(token, "an operator or the end of the expression")
        return node

    # Token helpers -----------------------------------------------------------

    def _peek(self, offset: int = 0) -> _Token:
        return self._tokens[min(self._index + offset, len(self._tokens) - 1)]

    def _advance(self) -> _Token:
        token = self._tokens[self._index]
        if token.kind != "end":
            self._index += 1
        return token

    def _at_symbol(self, text: str, offset: int = 0) -> bool:
        token = self._peek(offset)
        return token.kind == "symbol" and token.text == text

    def _expect(self, text: str) -> None:
        if not self._at_symbol(text):
            raise self._unexpected(self._peek(), repr(text))
        self._advance()

    def _unexpected(self, token: _Token, expected: str) -> XPathTranslationError:
        found = "the end of the expression" if token.kind == "end" else repr(token.text)
        return XPathTranslationError(
            f"Expected {expected} at character {token.position + 1}, found {found}. "
            "Check the expression for typing errors.",
            "syntax",
            token.position,
        )

    def _operator(self, level: int) -> str | None:
        token = self._peek()
        if token.kind in ("symbol", "name") and token.text in _XPATH_LEVELS[level]:
            return token.text
        return None

    # Grammar -----------------------------------------------------------------

    def _parse_level(self, level: int) -> _Node:
        if level == len(_XPATH_LEVELS):
            return self._parse_unary()
        left = self._parse_level(level + 1)
        while (operator := self._operator(level)) is not None:
            self._advance()
            right = self._parse_level(level + 1)
            left = _Binary(operator, left, right)
        return left

    def _parse_unary(self) -> _Node:
        if self._at_symbol("-"):
            self._advance()
            return _Negation(self._parse_unary())
        node = self._parse_path_expression()
        if self._at_symbol("|"):
            raise _unsupported("the union operator '|'", "union", self._peek().position)
        return node

    def _parse_path_expression(self) -> _Node:
        token = self._peek()
        if token.kind == "reference":
            self._advance()
            node: _Node = _Reference(token.text)
        elif token.kind == "string":
            self._advance()
            node = _String(token.text)
        elif token.kind == "number":
            self._advance()
            node = _Number(token.text)
        elif self._at_symbol("("):
            self._advance()
            node = self._parse_level(0)
            self._expect(")")
        elif self._at_symbol("$"):
            raise _unsupported(
                "XPath variables such as $name", "variable", token.position
            )
        elif (
            token.kind == "name"
            and self._at_symbol("(", 1)
            and token.text not in _NODE_TESTS
        ):
            node = self._parse_call()
        else:
            return self._parse_location_path()
        self._reject_path_continuation()
        return node

    def _reject_path_continuation(self) -> None:
        token = self._peek()
        if self._at_symbol("["):
            raise _unsupported("predicates such as [1]", "predicate", token.position)
        if self._at_symbol("/") or self._at_symbol("//"):
            raise _unsupported(
                "a path after a reference or function call", "path", token.position
            )

    def _parse_call(self) -> _Node:
        name_token = self._advance()
        # Checked before the arguments, so instance('x')/item names instance().
        _check_function(name_token.text, name_token.position)
        self._expect("(")
        arguments: list[_Node] = []
        if not self._at_symbol(")"):
            arguments.append(self._parse_level(0))
            while self._at_symbol(","):
                self._advance()
                arguments.append(self._parse_level(0))
        self._expect(")")
        return _Call(name_token.text, tuple(arguments), name_token.position)

    def _parse_location_path(self) -> _Node:
        start = self._peek().position
        absolute = False
        if self._at_symbol("//"):
            raise _unsupported("the descendant path '//'", "absolute path", start)
        if self._at_symbol("/"):
            self._advance()
            absolute = True
            if not self._at_step():
                # A lone "/" selects the document root.
                raise _unsupported("the absolute path '/'", "absolute path", start)
        steps = [self._parse_step()]
        while self._at_symbol("/") or self._at_symbol("//"):
            if self._at_symbol("//"):
                raise _unsupported(
                    "the descendant path '//'", "path", self._peek().position
                )
            self._advance()
            steps.append(self._parse_step())
        return _Path(absolute, tuple(steps), start)

    def _at_step(self) -> bool:
        token = self._peek()
        return token.kind == "name" or (
            token.kind == "symbol" and token.text in (".", "..", "@", "*")
        )

    def _parse_step(self) -> str:
        token = self._peek()
        if self._at_symbol(".") or self._at_symbol(".."):
            self._advance()
            step = token.text
        elif self._at_symbol("@"):
            raise _unsupported("attributes such as @name", "attribute", token.position)
        elif self._at_symbol("*"):
            raise _unsupported("the wildcard '*' in a path", "wildcard", token.position)
        elif token.kind == "name":
            self._advance()
            if self._at_symbol("::"):
                raise _unsupported(f"the axis '{token.text}::'", "axis", token.position)
            if self._at_symbol("("):
                raise _unsupported(
                    f"the node test {token.text}()", f"{token.text}()", token.position
                )
            step = token.text
        else:
            raise self._unexpected(token, "a value, a reference or a function call")
        if self._at_symbol("["):
            raise _unsupported(
                "predicates such as [1]", "predicate", self._peek().position
            )
        return step


_REWRITE = "Rewrite this expression by hand after the import."


def _unsupported(
    description: str, construct: str, position: int, advice: str = _REWRITE
) -> XPathTranslationError:
    return XPathTranslationError(
        f"The expression uses {description} at character {position + 1}, which "
        "appgraph "
        f"expressions do not support. {advice}",
        construct,
        position,
    )


def _check_function(name: str, position: int) -> None:
    reason = _UNSUPPORTED_FUNCTIONS.get(name)
    if reason is not None:
        raise XPathTranslationError(
            f"The function {name}() at character {position + 1} has no appgraph "
            f"equivalent: {reason}. {_REWRITE}",
            f"{name}()",
            position,
        )


# Emitter ---------------------------------------------------------------------

# Binding powers of the appgraph expression parser (blocks/expressions/_parser.py).
_OR = 10
_AND = 20
_NOT = 30
_COMPARISON = 40
_ADDITIVE = 60
_MULTIPLICATIVE = 70
_NEGATION = 80
_ATOM = 100

_OPERATORS: dict[str, tuple[str, int, ResultKind]] = {
    "or": ("or", _OR, "boolean"),
    "and": ("and", _AND, "boolean"),
    "=": ("=", _COMPARISON, "boolean"),
    "!=": ("!=", _COMPARISON, "boolean"),
    "<": ("<", _COMPARISON, "boolean"),
    "<=": ("<=", _COMPARISON, "boolean"),
    ">": (">", _COMPARISON, "boolean"),
    ">=": (">=", _COMPARISON, "boolean"),
    "+": ("+", _ADDITIVE, "number"),
    "-": ("-", _ADDITIVE, "number"),
    "*": ("*", _MULTIPLICATIVE, "number"),
    "div": ("/", _MULTIPLICATIVE, "number"),
    "mod": ("%", _MULTIPLICATIVE, "number"),
}

# XPath functions that exist in appgraph expressions with the same arguments.
# NOTE: Some differ at the edges. ODK rounds negative halves toward zero
# (round(-2.5) is -2, appgraph gives -3), and appgraph's pow() takes whole
# exponents only.
_RENAMED_FUNCTIONS: dict[str, tuple[str, ResultKind | None]] = {
    "abs": ("abs", "number"),
    "ceiling": ("ceil", "number"),
    "concat": ("concat", "text"),
    "contains": ("contains", "boolean"),
    "count": ("count", "number"),
    "count-selected": ("count_selected", "number"),
    "date": ("date", None),
    "ends-with": ("ends_with", "boolean"),
    "exp": ("exp", "number"),
    "floor": ("floor", "number"),
    "int": ("int", "number"),
    "join": ("join", "text"),
    "log": ("log", "number"),
    "log10": ("log10", "number"),
    "max": ("max", "number"),
    "min": ("min", "number"),
    "now": ("now", None),
    "number": ("number", "number"),
    "pow": ("pow", "number"),
    # ODK Collect's regex() matches the whole text (Pattern.matches in
    # JavaRosa's XPathFuncExpr), as appgraph's regex() does.
    "regex": ("regex", "boolean"),
    "round": ("round", "number"),
    "selected": ("selected", "boolean"),
    "sqrt": ("sqrt", "number"),
    "sin": ("sin", "number"),
    "cos": ("cos", "number"),
    "tan": ("tan", "number"),
    "asin": ("asin", "number"),
    "acos": ("acos", "number"),
    "atan": ("atan", "number"),
    "atan2": ("atan2", "number"),
    "pi": ("pi", "number"),
    "starts-with": ("starts_with", "boolean"),
    "string": ("string", "text"),
    "string-length": ("length", "number"),
    "sum": ("sum", "number"),
    "today": ("today", None),
}

# Functions that forms commonly use and that have no equivalent, with the
# reason the error message gives.
_UNSUPPORTED_FUNCTIONS: dict[str, str] = {
    "jr:choice-name": "option labels are not available to expressions",
    "pulldata": "lookups in attached CSV files are not supported",
    "indexed-repeat": (
        "repeat rows are lists, so write the row as repeat[n - 1].field instead"
    ),
    "once": "values computed only once per record are not supported",
    "random": "random numbers are not supported",
    "randomize": "random order is not supported",
    "uuid": "generated identifiers are not supported; use a unique_number block",
    "instance": "secondary instances are not supported",
    "current": "current() is only meaningful inside XPath paths",
    "decimal-date-time": "dates cannot be converted to day numbers",
    "decimal-time": "times cannot be converted to day fractions",
    "date-time": "day numbers cannot be converted to datetimes",
    "boolean-from-string": "use a comparison such as x = 'true' instead",
    "digest": "hash functions are not supported",
    "base64-decode": "base64 decoding is not supported",
    "area": "geoshape calculations are not supported",
    "distance": "distance() takes four coordinates, so write it by hand",
    "geofence": "geoshape calculations are not supported",
}

# The format codes that format_date() understands. format-date() calls with
# other codes raise.
_DATE_CODES = frozenset("YmdHMS")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Keywords of the appgraph lexer cannot be bare names.
_KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})


class _Output(NamedTuple):
    text: str
    power: int
    kind: ResultKind | None


class _Emitter:
    def __init__(self, choice_filter: bool, reference_path: ReferencePath) -> None:
        self._choice_filter = choice_filter
        self._reference_path = reference_path
        self.references: dict[str, None] = {}
        self.option_columns: dict[str, None] = {}

    def emit(self, node: _Node) -> _Output:
        match node:
            case _Number(text=text):
                return _Output(_number_text(text), _ATOM, "number")
            case _String(value=value):
                return _Output(_string_literal(value), _ATOM, "text")
            case _Reference(name=name):
                return self._emit_reference(name)
            case _Path():
                return self._emit_path(node)
            case _Negation(operand=operand):
                inner = self.emit(operand)
                return _Output("-" + _wrap(inner, _NEGATION), _NEGATION, "number")
            case _Binary():
                return self._emit_binary(node)
            case _Call():
                return self._emit_call(node)
        raise AssertionError(f"Unknown XPath node {node!r}.")

    def _emit_reference(self, name: str) -> _Output:
        self.references[name] = None
        path = self._reference_path(name)
        first, *rest = path
        text = _name_text(first) + "".join("." + _name_text(p) for p in rest)
        return _Output(text, _ATOM, None)

    def _emit_path(self, path: _Path) -> _Output:
        steps = path.steps
        if not path.absolute and steps == (".",):
            return _Output(".", _ATOM, None)
        if not path.absolute and len(steps) == 2 and steps[0] == "..":
            # ../name is a sibling in the same group. A plain reference reaches
            # it as long as the name is unique, as ${name} references require.
            if _NAME.fullmatch(steps[1]) and ":" not in steps[1]:
                return self._emit_reference(steps[1])
        if self._choice_filter and not path.absolute and len(steps) == 1:
            column = steps[0]
            if column not in ("..", ".") and ":" not in column:
                self.option_columns[column] = None
                # The select block binds option to {"value": <the choice
                # name>, **<the other columns>}.
                field = "value" if column == "name" else _name_text(column)
                return _Output(f"option.{field}", _ATOM, None)
        advice = "Refer to questions as ${name} instead."
        if path.absolute:
            description = f"the absolute path '{path.text}'"
            raise _unsupported(description, "absolute path", path.position, advice)
        description = f"the relative path '{path.text}'"
        raise _unsupported(description, "relative path", path.position, advice)

    def _emit_binary(self, node: _Binary) -> _Output:
        operator, power, kind = _OPERATORS[node.operator]
        left = self.emit(node.left)
        right = self.emit(node.right)
        # Comparisons do not chain in appgraph expressions, so a comparison
        # operand of a comparison keeps its parentheses.
        left_needs = left.power < power or (
            power == _COMPARISON and left.power == _COMPARISON
        )
        left_text = f"({left.text})" if left_needs else left.text
        right_text = _wrap(right, power)
        return _Output(f"{left_text} {operator} {right_text}", power, kind)

    def _emit_call(self, call: _Call) -> _Output:
        name = call.name
        special = _SPECIAL_FUNCTIONS.get(name)
        if special is not None:
            return special(self, call)
        renamed = _RENAMED_FUNCTIONS.get(name)
        if renamed is None:
            raise XPathTranslationError(
                f"The function {name}() at character {call.position + 1} is unknown "
                f"or has no appgraph equivalent. {_REWRITE}",
                f"{name}()",
                call.position,
            )
        target, kind = renamed
        arguments = [self.emit(argument) for argument in call.arguments]
        return _Output(_call_text(target, arguments), _ATOM, kind)

    # Functions that need more than a rename ----------------------------------

    def _emit_constant(self, call: _Call) -> _Output:
        _require_arguments(call, 0)
        return _Output(call.name, _ATOM, "boolean")

    def _emit_not(self, call: _Call) -> _Output:
        _require_arguments(call, 1)
        operand = self.emit(call.arguments[0])
        text = operand.text if operand.power == _ATOM else f"({operand.text})"
        return _Output(f"not {text}", _NOT, "boolean")

    def _emit_merging(self, call: _Call) -> _Output:
        """Emit if() or coalesce(), whose result kind is the kind of their values."""
        arguments = [self.emit(argument) for argument in call.arguments]
        values = arguments[1:] if call.name == "if" else arguments
        kinds = {value.kind for value in values}
        kind = kinds.pop() if len(kinds) == 1 else None
        return _Output(_call_text(call.name, arguments), _ATOM, kind)

    def _emit_position(self, call: _Call) -> _Output:
        arguments = call.arguments
        parent = (
            len(arguments) == 1
            and isinstance(arguments[0], _Path)
            and not arguments[0].absolute
            and arguments[0].steps == ("..",)
        )
        if not parent:
            raise _unsupported(
                "position() without the argument '..'", "position()", call.position
            )
        return _Output("index()", _ATOM, "number")

    def _emit_substr(self, call: _Call) -> _Output:
        """Emit substr(); ODK passes an end index where appgraph takes a length.

        ODK counts a negative start or end from the end of the text, which
        appgraph's substr() rejects, so negative literals raise here.
        NOTE: A negative value computed at run time fails when evaluated.
        """
        if len(call.arguments) not in (2, 3):
            _require_arguments(call, 3)
        if any(isinstance(node, _Negation) for node in call.arguments[1:]):
            raise _unsupported(
                "a negative position in substr()", "substr()", call.position
            )
        arguments = [self.emit(argument) for argument in call.arguments]
        if len(arguments) == 3:
            start_node, end_node = call.arguments[1], call.arguments[2]
            if isinstance(start_node, _Number) and isinstance(end_node, _Number):
                if start_node.text.isdigit() and end_node.text.isdigit():
                    length = max(int(end_node.text) - int(start_node.text), 0)
                    arguments[2] = _Output(str(length), _ATOM, "number")
                    return _Output(_call_text("substr", arguments), _ATOM, "text")
            start, end = arguments[1], arguments[2]
            text = f"{_wrap(end, _ADDITIVE - 1)} - {_wrap(start, _ADDITIVE)}"
            arguments[2] = _Output(text, _ADDITIVE, "number")
        return _Output(_call_text("substr", arguments), _ATOM, "text")

    def _emit_format_date(self, call: _Call) -> _Output:
        _require_arguments(call, 2)
        value = self.emit(call.arguments[0])
        pattern = call.arguments[1]
        if not isinstance(pattern, _String):
            raise _unsupported(
                f"{call.name}() with a format that is not a string literal",
                f"{call.name}()",
                call.position,
            )
        for code in re.findall(r"%(.?)", pattern.value):
            if code not in _DATE_CODES:
                raise _unsupported(
                    f"the {call.name}() code '%{code}'; format_date() supports "
                    "%Y %m %d %H %M %S",
                    f"{call.name}()",
                    call.position,
                )
        text = f"format_date({value.text}, {_string_literal(pattern.value)})"
        return _Output(text, _ATOM, "text")


_SpecialEmitter = Callable[[_Emitter, _Call], _Output]
_SPECIAL_FUNCTIONS: dict[str, _SpecialEmitter] = {
    "true": _Emitter._emit_constant,
    "false": _Emitter._emit_constant,
    "not": _Emitter._emit_not,
    "if": _Emitter._emit_merging,
    "coalesce": _Emitter._emit_merging,
    "position": _Emitter._emit_position,
    "substr": _Emitter._emit_substr,
    "format-date": _Emitter._emit_format_date,
    "format-date-time": _Emitter._emit_format_date,
}


def _require_arguments(call: _Call, count: int) -> None:
    if len(call.arguments) != count:
        raise XPathTranslationError(
            f"The function {call.name}() at character {call.position + 1} takes "
            f"{count} argument(s), got {len(call.arguments)}. Correct the call.",
            f"{call.name}()",
            call.position,
        )


def _wrap(output: _Output, power: int) -> str:
    """Return the text of an operand that must bind tighter than ``power``."""
    return output.text if output.power > power else f"({output.text})"


def _call_text(name: str, arguments: list[_Output]) -> str:
    return f"{name}({', '.join(argument.text for argument in arguments)})"


def _name_text(name: str) -> str:
    if _IDENTIFIER.fullmatch(name) and name not in _KEYWORDS:
        return name
    return "${" + name + "}"


def _number_text(text: str) -> str:
    """Return an XPath number as the appgraph lexer reads it: ``.5`` -> ``0.5``."""
    if text.startswith("."):
        text = "0" + text
    return text.removesuffix(".")


def _string_literal(value: str) -> str:
    """Quote ``value`` for the appgraph lexer, which reads backslash escapes."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
