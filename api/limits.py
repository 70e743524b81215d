"""Request limits and the checked-document cache that applies them.

Both transports parse a document with a token limit, validate it with the
specification's rules plus :func:`limit_rules`, and keep the result in a
:class:`DocumentCache` so that a repeated query is parsed and validated once
per schema.
"""

from __future__ import annotations

import json
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar, cast

from graphql import (
    ASTValidationRule,
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    is_input_type,
    parse,
    specified_rules,
    type_from_ast,
    validate,
)

R = TypeVar("R", bound=ASTValidationRule)

# Each dependency of a selection set on a fragment: the field depth at which
# the spread sits and the fragment's name.
_Spreads = list[tuple[int, str]]


@dataclass(frozen=True)
class Limits:
    """Limits on the size and shape of one GraphQL request."""

    max_depth: int = 15
    """Maximum nesting of fields in an operation, through fragments and
    including introspection fields. ``{ a { b } }`` has depth 2. The default
    is 15 because the query of ``graphql.get_introspection_query()``
    (graphql-core 3.3), which GraphiQL and code generators send, has depth 15."""
    max_aliases: int = 30
    """Maximum number of aliased fields in a document."""
    max_tokens: int = 5000
    """Maximum number of lexical tokens in a document, comments included."""
    max_directives: int = 50
    """Maximum number of directives applied in a document."""
    max_body_bytes: int = 1_000_000
    """Maximum size in bytes of a JSON request body."""
    max_upload_bytes: int = 25_000_000
    """Maximum size in bytes of a whole multipart request, files included."""
    max_files: int = 20
    """Maximum number of files in a multipart request."""
    max_page_size: int = 200
    """Maximum page size that list resolvers accept; the transports only carry it."""


class MaxDepthRule(ASTValidationRule):
    """Reject operations whose fields nest deeper than ``max_depth``.

    Fragment spreads are followed, so a fragment adds its own depth at the
    place where it is spread. Fragment cycles add nothing here because
    ``NoFragmentCyclesRule`` rejects them.
    """

    max_depth = Limits.max_depth

    def enter_document(self, node: DocumentNode, *_args: Any) -> None:
        """Compute the depth of every fragment in the document."""
        fragments: dict[str, tuple[int, _Spreads]] = {}
        for definition in node.definitions:
            if isinstance(definition, FragmentDefinitionNode):
                fragments[definition.name.value] = _selection_set_depth(
                    definition.selection_set
                )
        self._fragment_depths = _resolve_fragment_depths(fragments)

    def enter_operation_definition(
        self, node: OperationDefinitionNode, *_args: Any
    ) -> None:
        """Report the operation if it nests deeper than the limit."""
        own_depth, spreads = _selection_set_depth(node.selection_set)
        depth = own_depth
        for level, name in spreads:
            depth = max(depth, level + self._fragment_depths.get(name, 0))
        if depth > self.max_depth:
            subject = f"Operation '{node.name.value}'" if node.name else "The operation"
            self.report_error(
                GraphQLError(
                    f"{subject} has a depth of {depth} fields, but the maximum is"
                    f" {self.max_depth}. Reduce the nesting of fields and fragments.",
                    node,
                )
            )


class MaxAliasesRule(ASTValidationRule):
    """Reject documents with more than ``max_aliases`` aliased fields."""

    max_aliases = Limits.max_aliases

    def enter_document(self, *_args: Any) -> None:
        """Start counting aliases."""
        self._aliases = 0

    def enter_field(self, node: FieldNode, *_args: Any) -> None:
        """Count the field if it has an alias."""
        if node.alias is not None:
            self._aliases += 1

    def leave_document(self, node: DocumentNode, *_args: Any) -> None:
        """Report the document once if it has too many aliases."""
        if self._aliases > self.max_aliases:
            self.report_error(
                GraphQLError(
                    f"The document contains {self._aliases} aliased fields, but the"
                    f" maximum is {self.max_aliases}. Remove aliases or split the"
                    " request into several operations."
                )
            )


class MaxDirectivesRule(ASTValidationRule):
    """Reject documents that apply more than ``max_directives`` directives."""

    max_directives = Limits.max_directives

    def enter_document(self, *_args: Any) -> None:
        """Start counting directives."""
        self._directives = 0

    def enter_directive(self, node: DirectiveNode, *_args: Any) -> None:
        """Count one applied directive."""
        self._directives += 1

    def leave_document(self, node: DocumentNode, *_args: Any) -> None:
        """Report the document once if it applies too many directives."""
        if self._directives > self.max_directives:
            self.report_error(
                GraphQLError(
                    f"The document contains {self._directives} directives, but the"
                    f" maximum is {self.max_directives}. Remove directives or split"
                    " the request into several operations."
                )
            )


def limit_rules(limits: Limits) -> list[type[ASTValidationRule]]:
    """Return the validation rules that enforce the depth, alias and directive limits.

    graphql-core instantiates each rule per validation, so the limits are bound
    as class attributes of a subclass.
    """
    return [
        _bind(MaxDepthRule, max_depth=limits.max_depth),
        _bind(MaxAliasesRule, max_aliases=limits.max_aliases),
        _bind(MaxDirectivesRule, max_directives=limits.max_directives),
    ]


def _bind(rule: type[R], **attributes: int) -> type[R]:
    return cast(type[R], type(rule.__name__, (rule,), attributes))


def _selection_set_depth(selection_set: SelectionSetNode) -> tuple[int, _Spreads]:
    """Return the field depth of a selection set and the fragments it spreads.

    The walk uses an explicit stack, so a deeply nested document cannot
    exhaust the interpreter's recursion limit.
    """
    depth = 0
    spreads: _Spreads = []
    stack = [(selection_set, 0)]
    while stack:
        current, level = stack.pop()
        for selection in current.selections:
            if isinstance(selection, FieldNode):
                depth = max(depth, level + 1)
                if selection.selection_set is not None:
                    stack.append((selection.selection_set, level + 1))
            elif isinstance(selection, InlineFragmentNode):
                stack.append((selection.selection_set, level))
            elif isinstance(selection, FragmentSpreadNode):
                spreads.append((level, selection.name.value))
    return depth, spreads


def _resolve_fragment_depths(
    fragments: dict[str, tuple[int, _Spreads]],
) -> dict[str, int]:
    """Return the full depth of each fragment, following spreads depth first.

    A spread of an unknown fragment, or one that closes a cycle, counts as
    depth 0. Each fragment is resolved once, so repeated spreads cost nothing
    and the work is linear in the number of spreads.
    """
    depths: dict[str, int] = {}
    on_path: set[str] = set()
    for root in fragments:
        if root in depths:
            continue
        stack = [(root, 0)]
        on_path.add(root)
        while stack:
            name, next_spread = stack[-1]
            own_depth, spreads = fragments[name]
            if next_spread < len(spreads):
                stack[-1] = (name, next_spread + 1)
                target = spreads[next_spread][1]
                if (
                    target in fragments
                    and target not in depths
                    and target not in on_path
                ):
                    on_path.add(target)
                    stack.append((target, 0))
                continue
            depth = own_depth
            for level, target in spreads:
                depth = max(depth, level + depths.get(target, 0))
            depths[name] = depth
            on_path.discard(name)
            stack.pop()
    return depths


@dataclass(frozen=True)
class CheckedDocument:
    """A parsed document and its validation errors against one schema."""

    document: DocumentNode | None
    """The parsed document, or None if the source did not parse."""
    errors: tuple[GraphQLError, ...]
    """Syntax or validation errors; the document may run only if this is empty."""


class DocumentCache:
    """Parse and validate documents under limits, with an LRU cache per schema.

    Entries are keyed by the schema's identity and the source text. An entry
    stores only a weak reference to its schema, so a schema that was swapped
    out is freed and its entries age out of the cache.
    """

    def __init__(
        self,
        limits: Limits,
        *,
        max_entries: int = 512,
        max_source_length: int = 100_000,
    ) -> None:
        """Create an empty cache.

        Args:
            limits: The token, depth, alias and directive limits to apply.
            max_entries: Number of checked documents kept.
            max_source_length: Longer sources are checked on every request
                and not kept, so that the cache's memory stays bounded.
        """
        self._limits = limits
        self._rules = (*specified_rules, *limit_rules(limits))
        self._max_entries = max_entries
        self._max_source_length = max_source_length
        self._entries: OrderedDict[
            tuple[int, str], tuple[weakref.ref[GraphQLSchema], CheckedDocument]
        ] = OrderedDict()

    def check(self, schema: GraphQLSchema, source: str) -> CheckedDocument:
        """Return the checked document for ``source``, parsing it on a cache miss."""
        key = (id(schema), source)
        entry = self._entries.get(key)
        if entry is not None and entry[0]() is schema:
            self._entries.move_to_end(key)
            return entry[1]
        checked = self._check_uncached(schema, source)
        if checked.document is not None and len(source) <= self._max_source_length:
            self._entries[key] = (weakref.ref(schema), checked)
            if len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return checked

    def _check_uncached(self, schema: GraphQLSchema, source: str) -> CheckedDocument:
        try:
            # NOTE: graphql-core 3.3 deprecates max_tokens in favour of
            # max_lexical_tokens, which 3.2 lacks; max_tokens also counts comments.
            document = parse(source, max_tokens=self._limits.max_tokens)
        except GraphQLError as error:
            return CheckedDocument(None, (error,))
        errors = validate(schema, document, self._rules)
        return CheckedDocument(document, tuple(errors))


def select_operation(
    document: DocumentNode, operation_name: str | None
) -> OperationDefinitionNode | GraphQLError:
    """Return the operation to run, or an error saying why none can be chosen."""
    operations: Sequence[OperationDefinitionNode] = [
        definition
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
    ]
    if operation_name is not None:
        for operation in operations:
            if operation.name is not None and operation.name.value == operation_name:
                return operation
        return GraphQLError(
            f"The document has no operation named '{operation_name}'. Send the name"
            " of one of its operations as operationName."
        )
    if not operations:
        return GraphQLError(
            "The document contains no operation. Send a query, mutation or"
            " subscription."
        )
    if len(operations) > 1:
        return GraphQLError(
            f"The document contains {len(operations)} operations, so operationName"
            " is required. Send the name of the operation to run."
        )
    return operations[0]


# Request JSON --------------------------------------------------------------

MAX_JSON_NESTING = 500
"""Nesting of arrays and objects that request JSON may always use. Python's
``json`` module parses recursively, so deeper documents may fail with the
interpreter's recursion limit (1,000 frames by default)."""

_NON_FINITE_TOKENS = ("NaN", "Infinity", "-Infinity")


class RequestJSONError(ValueError):
    """Invalid request JSON; the message gives the reason and what to send."""


def parse_request_json(text: str | bytes, source: str) -> Any:
    """Parse request JSON, keeping every digit of numbers with a fraction.

    Numbers with a fraction or an exponent become :class:`decimal.Decimal`,
    so ``12345678901234567890123456789.5`` is not rounded to a float. Call
    :func:`coerce_variable_numbers` before executing with such variables.
    ``source`` names the JSON in messages, such as "The request body".

    Raises:
        RequestJSONError: the text is not JSON, contains ``NaN``,
            ``Infinity`` or ``-Infinity`` (which Python accepts but JSON does
            not), or nests too deeply to parse.
    """
    try:
        return json.loads(
            text, parse_float=Decimal, parse_constant=_reject_non_finite(source)
        )
    except RecursionError:
        raise RequestJSONError(
            f"{source} nests arrays and objects too deeply to parse. Keep the "
            f"nesting under {MAX_JSON_NESTING} levels."
        ) from None
    except RequestJSONError:
        raise
    except (UnicodeDecodeError, ValueError) as error:
        raise RequestJSONError(f"{source} is not valid UTF-8 JSON: {error}.") from None


def _reject_non_finite(source: str) -> Callable[[str], Any]:
    def reject(token: str) -> Any:
        raise RequestJSONError(
            f"{source} contains the token {token}, which is not valid JSON. "
            "Send a finite number, or null."
        )

    return reject


def coerce_variable_numbers(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None,
) -> dict[str, Any] | None:
    """Convert the Decimals of :func:`parse_request_json` for each variable's type.

    graphql-core's ``Float`` and ``Int`` accept only Python numbers, so a
    Decimal becomes a float there and wherever the type is unknown. The
    ``Decimal`` scalar keeps it exact. ``JSON`` values keep a Decimal only
    when a float would change its value, so record data keeps every digit
    while other JSON (such as a definition) gets floats, as before.
    """
    if variables is None:
        return None
    types: dict[str, GraphQLInputType] = {}
    for definition in operation.variable_definitions or ():
        found = type_from_ast(schema, definition.type)
        if found is not None and is_input_type(found):
            types[definition.variable.name.value] = found
    coerced = dict(variables)
    # The walk is iterative and replaces numbers in place, because variables
    # may nest as deeply as the JSON parser allows.
    pending: list[tuple[Any, Any, GraphQLInputType | None]] = [
        (coerced, name, types.get(name)) for name in coerced
    ]
    while pending:
        container, key, type_ = pending.pop()
        value = container[key]
        named = None if type_ is None else get_named_type(type_)
        if isinstance(value, Decimal):
            container[key] = _coerce_decimal(value, named)
        elif isinstance(value, list):
            item_type = _item_type(type_)
            pending.extend((value, index, item_type) for index in range(len(value)))
        elif isinstance(value, dict):
            pending.extend((value, child, _child_type(named, child)) for child in value)
    return coerced


def _coerce_decimal(value: Decimal, named: GraphQLNamedType | None) -> Any:
    if named is not None and named.name == "Decimal":
        return value
    if named is not None and named.name == "JSON":
        return _json_number(value)
    return float(value)


def _child_type(named: GraphQLNamedType | None, key: str) -> GraphQLInputType | None:
    if isinstance(named, GraphQLInputObjectType):
        field = named.fields.get(key)
        return None if field is None else field.type
    if named is not None and named.name == "JSON":
        return cast(GraphQLInputType, named)
    return None


def _item_type(type_: GraphQLInputType | None) -> GraphQLInputType | None:
    if type_ is None:
        return None
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    if isinstance(type_, GraphQLList):
        return cast(GraphQLInputType, type_.of_type)
    # A list given where one value is expected is checked item by item.
    return type_


def _json_number(value: Decimal) -> Decimal | float:
    converted = float(value)
    if Decimal(repr(converted)) != value:
        return value
    return converted
