"""Typed list query: 100 records of 30 fields, against bare graphql-core.

Three variants execute the same parsed and validated document
``plotsRecords(first: 100) { edges { node { <30 fields> } } }``:

- ``store``: the workspace schema of a Runtime with a real RequestContext,
  as the HTTP endpoint executes it minus HTTP, so the SQLite query is
  included.
- ``prefetched``: the generated types of the same app with a root resolver
  that returns records fetched once, so only execution is measured.
- ``baseline``: a hand-built graphql-core schema of the same shape with
  built-in scalars and a root resolver returning the same 100 dicts.

The ratio of ``prefetched`` to ``baseline`` is the execution overhead of the
generated types. Each variant gets a warm-up and five timed loops, and the
median ops/s counts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
import time
from collections.abc import Callable, Mapping
from inspect import isawaitable
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLField,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLString,
    execute,
    parse,
    validate,
)

from api.app import Runtime
from api.context import Caller
from api.limits import DocumentCache
from api.operations import record_source
from api.schema.manager import AppSource, SchemaManager
from api.schema.typed import AppTypesRef, RootResolvers
from api.settings import Settings
from bench._common import Result, async_ops_per_second, median, ops_per_second
from blocks.definition import parse_definition
from store import Role

NAME = "typed_query"
RECORDS = 100
WARMUP_SECONDS = 1.0
LOOP_SECONDS = 2.0
LOOPS = 5
TARGET_EXECUTION_RATIO = 0.85

# Block type, config and a function of the record index giving its value.
_FIELD_KINDS: list[tuple[str, dict[str, Any], Callable[[int], Any]]] = [
    ("text", {}, lambda i: f"Plot {i} on the north ridge"),
    ("number", {"kind": "integer", "min": 0}, lambda i: 1000 + i * 7),
    ("number", {"kind": "decimal"}, lambda i: f"{i}.{i % 100:02d}"),
    ("boolean", {}, lambda i: i % 2 == 0),
    ("date", {}, lambda i: (dt.date(2026, 1, 1) + dt.timedelta(days=i)).isoformat()),
    (
        "select_one",
        {"options": [{"value": v, "label": v.title()} for v in ("low", "mid", "high")]},
        lambda i: ("low", "mid", "high")[i % 3],
    ),
]
FIELD_COUNT = 30


def field_specs() -> list[tuple[str, str, dict[str, Any], Callable[[int], Any]]]:
    """Return the 30 fields as (block id, type, config, value function)."""
    specs = []
    for index in range(FIELD_COUNT):
        block_type, config, value = _FIELD_KINDS[index % len(_FIELD_KINDS)]
        specs.append((f"f{index:02d}_{block_type}", block_type, config, value))
    return specs


def definition_data() -> dict[str, Any]:
    """Return the 30-block definition of the benchmark app."""
    return {
        "blocks": [
            {"id": block_id, "type": block_type, "config": config, "label": block_id}
            for block_id, block_type, config, _ in field_specs()
        ]
    }


def record_data(index: int) -> dict[str, Any]:
    """Return the submitted data of record ``index``, keyed by block id."""
    return {block_id: value(index) for block_id, _, _, value in field_specs()}


def query_text() -> str:
    """Return the typed list query selecting every one of the 30 fields."""
    fields = " ".join(block_id for block_id, _, _, _ in field_specs())
    return f"{{ plotsRecords(first: {RECORDS}) {{ edges {{ node {{ {fields} }} }} }} }}"


# Baseline ----------------------------------------------------------------


def _plain_scalar(block_type: str, config: Mapping[str, Any]) -> GraphQLOutputType:
    if block_type == "boolean":
        return GraphQLBoolean
    if block_type == "number" and config.get("kind") == "integer":
        return GraphQLInt
    # Decimals and dates are stored as strings, so String serializes them as is.
    return GraphQLString


def baseline_schema(page: Mapping[str, Any]) -> GraphQLSchema:
    """Build a bare graphql-core schema of the same shape that returns ``page``."""
    node = GraphQLObjectType(
        "Plots",
        {
            block_id: GraphQLField(_plain_scalar(block_type, config))
            for block_id, block_type, config, _ in field_specs()
        },
    )
    edge = GraphQLObjectType(
        "PlotsEdge",
        {
            "node": GraphQLField(GraphQLNonNull(node)),
            "cursor": GraphQLField(GraphQLNonNull(GraphQLString)),
        },
    )
    connection = GraphQLObjectType(
        "PlotsConnection",
        {"edges": GraphQLField(GraphQLNonNull(GraphQLList(GraphQLNonNull(edge))))},
    )

    def resolve_records(
        _source: Any, _info: GraphQLResolveInfo[Any], first: int | None = None
    ) -> Any:
        return page

    query = GraphQLObjectType(
        "Query",
        {
            "plotsRecords": GraphQLField(
                GraphQLNonNull(connection),
                args={"first": GraphQLArgument(GraphQLInt)},
                resolve=resolve_records,
            )
        },
    )
    return GraphQLSchema(query=query)


def _prefetched_resolvers(page: Mapping[str, Any]) -> RootResolvers:
    def resolve_list(_source: Any, _info: GraphQLResolveInfo[Any], **_args: Any) -> Any:
        return page

    def unused(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("Only the list field is resolved in this benchmark.")

    return {
        "get": unused,
        "list": resolve_list,
        "create": unused,
        "update": unused,
        "delete": unused,
        "changed": unused,
        "changed_subscribe": unused,
    }


# Running -----------------------------------------------------------------


def _check(result: ExecutionResult, variant: str) -> None:
    if result.errors:
        raise RuntimeError(
            f"The {variant} query failed: {result.errors[0].message}. "
            "Fix the schema or data before timing it."
        )
    edges = (result.data or {})["plotsRecords"]["edges"]
    if len(edges) != RECORDS or len(edges[0]["node"]) != FIELD_COUNT:
        raise RuntimeError(
            f"The {variant} query returned {len(edges)} records; expected {RECORDS} "
            f"of {FIELD_COUNT} fields."
        )


async def _prepare(data_dir: Path) -> tuple[Runtime, Caller, str]:
    runtime = Runtime(Settings(data_dir=data_dir))
    await runtime.start()
    workspace = await runtime.store.create_workspace("bench", "Bench")
    token, _ = await runtime.store.create_token(
        workspace.id, Role.ADMIN, "bench", "typed_query benchmark"
    )
    caller = await runtime.authenticate(token)
    if caller is None:
        raise RuntimeError("The token just created did not authenticate.")
    app, _ = await runtime.services.create_app(
        caller,
        slug="plots",
        name="Plots",
        description="",
        definition_data=definition_data(),
        shared_with_members=False,
    )
    for index in range(RECORDS):
        await runtime.services.create_record(
            caller, app, record_data(index), idempotency_key=None, version=None
        )
    return runtime, caller, app.id


async def _measure(data_dir: Path, result: Result) -> None:
    runtime, caller, app_id = await _prepare(data_dir)
    try:
        schema = runtime.schema_for(caller)
        checked = DocumentCache(runtime.settings.limits).check(schema, query_text())
        if checked.document is None or checked.errors:
            raise RuntimeError(f"The benchmark query is invalid: {checked.errors}.")
        document: DocumentNode = checked.document

        async def through_store() -> ExecutionResult:
            context = await runtime.make_context(caller, {})
            outcome = execute(schema, document, context_value=context)
            return await outcome if isawaitable(outcome) else outcome

        _check(await through_store(), "store")

        app = await runtime.services.app_by_id(caller, app_id)
        fetched = await runtime.services.query_records(
            caller, app, where=None, order=[], first=RECORDS, after=None
        )
        page = {
            "edges": [
                {"node": record_source(record), "cursor": cursor}
                for record, cursor in zip(fetched.items, fetched.cursors, strict=True)
            ]
        }

        def resolvers(_app_id: str, _ref: AppTypesRef) -> RootResolvers:
            return _prefetched_resolvers(page)

        manager = SchemaManager(runtime.registry, runtime.static, resolvers)
        definition = parse_definition(definition_data())
        prefetched = await manager.rebuild(
            "bench", [AppSource(app_id, "plots", 1, definition)]
        )
        context = await runtime.make_context(caller, {})
        _check_sync(prefetched, document, context, "prefetched")

        bare = baseline_schema(page)
        bare_document = parse(query_text())
        errors = validate(bare, bare_document)
        if errors:
            raise RuntimeError(f"The baseline query is invalid: {errors}.")
        _check_sync(bare, bare_document, None, "baseline")

        def run_baseline() -> object:
            return execute(bare, bare_document)

        def run_prefetched() -> object:
            return execute(prefetched, document, context_value=context)

        # The variants take turns, so a slow phase of the machine hits all three.
        ops_per_second(run_baseline, WARMUP_SECONDS)
        ops_per_second(run_prefetched, WARMUP_SECONDS)
        await async_ops_per_second(through_store, WARMUP_SECONDS)
        baseline_rates: list[float] = []
        prefetched_rates: list[float] = []
        store_rates: list[float] = []
        for _ in range(LOOPS):
            baseline_rates.append(ops_per_second(run_baseline, LOOP_SECONDS))
            prefetched_rates.append(ops_per_second(run_prefetched, LOOP_SECONDS))
            store_rates.append(await async_ops_per_second(through_store, LOOP_SECONDS))
    finally:
        await runtime.stop()

    _report(result, store_rates, prefetched_rates, baseline_rates)


def _check_sync(
    schema: GraphQLSchema, document: DocumentNode, context: Any, variant: str
) -> None:
    outcome = execute(schema, document, context_value=context)
    if isawaitable(outcome):
        raise RuntimeError(f"The {variant} query should execute synchronously.")
    _check(outcome, variant)


def _report(
    result: Result,
    store_rates: list[float],
    prefetched_rates: list[float],
    baseline_rates: list[float],
) -> None:
    store = median(store_rates)
    prefetched = median(prefetched_rates)
    baseline = median(baseline_rates)
    execution_ratio = prefetched / baseline
    result.numbers.update(
        store_ops=store_rates,
        prefetched_ops=prefetched_rates,
        baseline_ops=baseline_rates,
        store_ratio=store / baseline,
        execution_ratio=execution_ratio,
    )
    result.add("bare graphql-core (baseline)", f"{baseline:,.0f} ops/s")
    result.add(
        "generated types, prefetched records",
        f"{prefetched:,.0f} ops/s",
    )
    result.add(
        "execution ratio (prefetched / baseline)",
        f"{execution_ratio:.2f}",
        f">= {TARGET_EXECUTION_RATIO}",
        execution_ratio >= TARGET_EXECUTION_RATIO,
    )
    result.add("generated types with SQLite store", f"{store:,.0f} ops/s")
    result.add("store ratio (store / baseline)", f"{store / baseline:.2f}")
    result.add(
        "time per query: baseline / prefetched / store",
        f"{1000 / baseline:.2f} / {1000 / prefetched:.2f} / {1000 / store:.2f} ms",
    )
    result.notes.append(
        f"{RECORDS} records x {FIELD_COUNT} fields; median of {LOOPS} loops of "
        f"{LOOP_SECONDS:.0f} s per variant, taking turns, after a "
        f"{WARMUP_SECONDS:.0f} s warm-up each."
    )


def run() -> Result:
    """Run the benchmark and return its result."""
    result = Result(NAME)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="appgraph-bench-") as data_dir:
        asyncio.run(_measure(Path(data_dir), result))
    result.seconds = time.perf_counter() - started
    return result


__all__ = ["run"]
