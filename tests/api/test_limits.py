import time

from graphql import (
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    ParallelVisitor,
    TypeInfo,
    TypeInfoVisitor,
    ValidationContext,
    build_schema,
    get_introspection_query,
    parse,
    specified_rules,
    validate,
    visit,
)

from api.limits import DocumentCache, Limits, limit_rules, select_operation

SDL = """
type Node { value: Int, child: Node, other: Node }
type Query { node: Node, hello: String }
"""


def _schema() -> GraphQLSchema:
    return build_schema(SDL)


def _errors(source: str, limits: Limits) -> list[str]:
    schema = _schema()
    errors = validate(schema, parse(source), [*specified_rules, *limit_rules(limits)])
    return [error.message for error in errors]


def _nested(depth: int) -> str:
    """Return a query whose fields nest exactly ``depth`` levels."""
    inner = "value"
    for _ in range(depth - 2):
        inner = f"child {{ {inner} }}"
    return f"{{ node {{ {inner} }} }}"


# Depth ------------------------------------------------------------------------


def test_depth_at_limit_passes() -> None:
    assert _errors(_nested(5), Limits(max_depth=5)) == []


def test_depth_over_limit_fails() -> None:
    messages = _errors(_nested(6), Limits(max_depth=5))
    assert messages == [
        "The operation has a depth of 6 fields, but the maximum is 5."
        " Reduce the nesting of fields and fragments."
    ]


def test_depth_names_operation() -> None:
    messages = _errors("query Deep " + _nested(3), Limits(max_depth=2))
    assert messages[0].startswith("Operation 'Deep' has a depth of 3")


def test_depth_follows_fragments() -> None:
    source = """
    { node { ...A } }
    fragment A on Node { child { ...B } }
    fragment B on Node { child { value } }
    """
    assert _errors(source, Limits(max_depth=4)) == []
    assert len(_errors(source, Limits(max_depth=3))) == 1


def test_depth_follows_inline_fragments() -> None:
    source = "{ node { ... on Node { child { ... { value } } } } }"
    assert _errors(source, Limits(max_depth=3)) == []
    assert len(_errors(source, Limits(max_depth=2))) == 1


def test_depth_counts_introspection() -> None:
    source = "{ __schema { types { fields { type { ofType { name } } } } } }"
    messages = _errors(source, Limits(max_depth=5))
    assert "depth of 6" in messages[0]


def test_introspection_query_depth_is_15() -> None:
    source = get_introspection_query()
    assert _errors(source, Limits(max_depth=15)) == []
    assert "depth of 16" not in " ".join(_errors(source, Limits(max_depth=14)))
    assert "depth of 15" in " ".join(_errors(source, Limits(max_depth=14)))


def test_depth_fragment_cycle_terminates() -> None:
    source = """
    { node { ...A } }
    fragment A on Node { child { ...B } }
    fragment B on Node { other { ...A } }
    """
    messages = _errors(source, Limits(max_depth=12))
    assert any("Cannot spread fragment 'A'" in message for message in messages)


def test_depth_self_spread_terminates() -> None:
    source = "{ node { ...A } } fragment A on Node { child { ...A } }"
    messages = _errors(source, Limits(max_depth=12))
    assert any("Cannot spread fragment 'A'" in message for message in messages)


def test_depth_long_fragment_chain() -> None:
    count = 3000
    fragments = " ".join(
        f"fragment F{i} on Node {{ ...F{i + 1} }}" for i in range(count)
    )
    source = f"{{ node {{ ...F0 }} }} {fragments} fragment F{count} on Node {{ value }}"
    # The rule runs outside validate(), which aborts on fragments nested this
    # deep before any rule could recurse.
    schema = _schema()
    document = parse(source)
    errors: list[GraphQLError] = []
    type_info = TypeInfo(schema)
    context = ValidationContext(schema, document, type_info, errors.append)
    rules = [rule(context) for rule in limit_rules(Limits(max_depth=1))]
    visit(document, TypeInfoVisitor(type_info, ParallelVisitor(rules)))
    assert [error.message for error in errors] == [
        "The operation has a depth of 2 fields, but the maximum is 1."
        " Reduce the nesting of fields and fragments."
    ]


def test_depth_repeated_spreads_are_linear() -> None:
    # Each fragment spreads the next one twice, so an unmemoized walk would
    # visit 2**40 paths.
    count = 40
    fragments = " ".join(
        f"fragment F{i} on Node {{ child {{ ...F{i + 1} }} other {{ ...F{i + 1} }} }}"
        for i in range(count)
    )
    source = f"{{ node {{ ...F0 }} }} {fragments} fragment F{count} on Node {{ value }}"
    started = time.perf_counter()
    messages = _errors(source, Limits(max_depth=12))
    assert "depth of 42" in messages[0]
    assert time.perf_counter() - started < 2.0


def test_depth_ignores_unknown_fragment() -> None:
    messages = _errors("{ node { ...Missing } }", Limits(max_depth=12))
    assert messages == ["Unknown fragment 'Missing'."]


# Aliases and directives ------------------------------------------------------


def _aliased(count: int) -> str:
    return "{ " + " ".join(f"a{i}: hello" for i in range(count)) + " }"


def test_aliases_at_limit_pass() -> None:
    assert _errors(_aliased(3), Limits(max_aliases=3)) == []


def test_aliases_over_limit_fail() -> None:
    assert _errors(_aliased(4), Limits(max_aliases=3)) == [
        "The document contains 4 aliased fields, but the maximum is 3. Remove"
        " aliases or split the request into several operations."
    ]


def test_aliases_in_fragments_count() -> None:
    source = "{ a: hello node { ...F } } fragment F on Node { b: value c: value }"
    assert len(_errors(source, Limits(max_aliases=2))) == 1


def test_directives_over_limit_fail() -> None:
    source = "{ " + " ".join(f"a{i}: hello @skip(if: false)" for i in range(4)) + " }"
    messages = _errors(source, Limits(max_directives=3))
    assert messages == [
        "The document contains 4 directives, but the maximum is 3. Remove"
        " directives or split the request into several operations."
    ]


def test_limit_rules_bind_their_limits() -> None:
    strict = limit_rules(Limits(max_aliases=1))
    lenient = limit_rules(Limits(max_aliases=10))
    schema = _schema()
    document = parse(_aliased(2))
    assert len(validate(schema, document, strict)) == 1
    assert validate(schema, document, lenient) == []


# Document cache ----------------------------------------------------------------


def test_cache_returns_same_document() -> None:
    cache = DocumentCache(Limits())
    schema = _schema()
    assert cache.check(schema, "{ hello }") is cache.check(schema, "{ hello }")


def test_cache_separates_schemas() -> None:
    cache = DocumentCache(Limits())
    first = cache.check(_schema(), "{ hello }")
    second_schema = _schema()
    assert cache.check(second_schema, "{ hello }") is not first


def test_cache_keeps_validation_errors() -> None:
    cache = DocumentCache(Limits())
    schema = _schema()
    checked = cache.check(schema, "{ nope }")
    assert checked.errors[0].message.startswith("Cannot query field 'nope'")
    assert cache.check(schema, "{ nope }") is checked


def test_cache_reports_syntax_error() -> None:
    checked = DocumentCache(Limits()).check(_schema(), "{ hello")
    assert checked.document is None
    assert checked.errors[0].message.startswith("Syntax Error")


def test_cache_applies_token_limit() -> None:
    checked = DocumentCache(Limits(max_tokens=5)).check(_schema(), _aliased(3))
    assert checked.document is None
    assert "more than 5 tokens" in checked.errors[0].message


def test_cache_counts_comments_as_tokens() -> None:
    source = "{ hello " + "# comment\n" * 10 + "}"
    checked = DocumentCache(Limits(max_tokens=5)).check(_schema(), source)
    assert "more than 5 tokens" in checked.errors[0].message


def test_cache_evicts_oldest_entry() -> None:
    cache = DocumentCache(Limits(), max_entries=2)
    schema = _schema()
    oldest = cache.check(schema, "{ hello }")
    cache.check(schema, "{ node { value } }")
    cache.check(schema, "{ __typename }")
    assert cache.check(schema, "{ hello }") is not oldest


def test_cache_skips_long_sources() -> None:
    cache = DocumentCache(Limits(), max_source_length=10)
    schema = _schema()
    source = "{ hello }" + " " * 10
    assert cache.check(schema, source) is not cache.check(schema, source)


# Operation selection -------------------------------------------------------------


def test_select_single_operation() -> None:
    operation = select_operation(parse("{ hello }"), None)
    assert isinstance(operation, OperationDefinitionNode)


def test_select_named_operation() -> None:
    operation = select_operation(parse("query A { hello } query B { hello }"), "B")
    assert isinstance(operation, OperationDefinitionNode)
    assert operation.name is not None
    assert operation.name.value == "B"


def test_select_unknown_name_fails() -> None:
    error = select_operation(parse("query A { hello }"), "C")
    assert isinstance(error, GraphQLError)
    assert "'C'" in error.message


def test_select_ambiguous_fails() -> None:
    error = select_operation(parse("query A { hello } query B { hello }"), None)
    assert isinstance(error, GraphQLError)
    assert "2 operations" in error.message


def test_select_without_operations_fails() -> None:
    error = select_operation(parse("fragment F on Query { hello }"), None)
    assert isinstance(error, GraphQLError)
    assert "no operation" in error.message
