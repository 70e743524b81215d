"""Workspace schema rebuild after one app's definition changes.

Workspaces of 10, 100 and 1,000 apps of 30 blocks each are built once with a
``SchemaManager`` wired as ``Runtime`` wires it, which fills the per-version
type cache. Then one app gets a new definition version (a block's label
changes) and ``SchemaManager.rebuild`` runs again, as the outbox dispatcher
runs it on a ``definition.version_created`` event. Its wall time is the
measured number. A ticker task on the same event loop records how long the
loop went without running it while the rebuild assembled the schema in a
worker thread, because that thread holds the GIL while it works.

The baseline builds the same schema from scratch with bare graphql-core: a
fresh copy of every named type, ``GraphQLSchema`` and ``validate_schema``,
which graphql-core runs before the first execution anyway.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLEnumValue,
    GraphQLField,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLType,
    GraphQLUnionType,
    specified_scalar_types,
    validate_schema,
)

from api.app import Runtime
from api.schema.manager import AppSource, SchemaManager
from api.settings import Settings
from bench._common import Result, median
from bench.typed_query import definition_data
from blocks.definition import parse_definition

NAME = "rebuild"
SIZES = (10, 100, 1000)
REBUILDS = 10
BASELINE_BUILDS = 5
TICK_SECONDS = 0.001
TARGET_REBUILD_MS = 50.0
TARGET_LAG_MS = 10.0


def _sources(count: int) -> list[AppSource]:
    definition = parse_definition(definition_data())
    return [
        AppSource(f"app{index:04d}", f"app-{index:04d}", 1, definition)
        for index in range(count)
    ]


def _changed(source: AppSource, round_number: int) -> AppSource:
    data = definition_data()
    data["blocks"][0]["label"] = f"Edited label, round {round_number}"
    return AppSource(
        source.app_id,
        source.slug,
        source.version + 1,
        parse_definition(data),
        source.description,
    )


class LoopLagMeter:
    """Records the longest time the event loop took to wake a 1 ms sleeper."""

    def __init__(self) -> None:
        self.max_lag = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(TICK_SECONDS)
            lag = time.perf_counter() - before - TICK_SECONDS
            self.max_lag = max(self.max_lag, lag)

    async def __aenter__(self) -> LoopLagMeter:
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass


# Baseline ----------------------------------------------------------------


class _SchemaCopier:
    """Rebuilds every named type of a schema as new graphql-core objects."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.source = schema
        # Built-in scalars are shared singletons in graphql-core, never copied.
        self.copies: dict[str, GraphQLNamedType] = dict(specified_scalar_types)

    def named(self, name: str) -> GraphQLNamedType:
        copy = self.copies.get(name)
        if copy is None:
            copy = self._copy(self.source.type_map[name])
            self.copies[name] = copy
        return copy

    def _interface(self, name: str) -> GraphQLInterfaceType:
        copy = self.named(name)
        assert isinstance(copy, GraphQLInterfaceType)
        return copy

    def wrapped(self, type_: GraphQLType) -> Any:
        if isinstance(type_, GraphQLNonNull):
            return GraphQLNonNull(self.wrapped(type_.of_type))
        if isinstance(type_, GraphQLList):
            return GraphQLList(self.wrapped(type_.of_type))
        assert isinstance(type_, GraphQLNamedType)
        return self.named(type_.name)

    def _fields(
        self, fields: Mapping[str, GraphQLField]
    ) -> Callable[[], dict[str, GraphQLField]]:
        def thunk() -> dict[str, GraphQLField]:
            return {
                name: GraphQLField(
                    self.wrapped(field.type),
                    args={
                        arg_name: GraphQLArgument(
                            self.wrapped(arg.type),
                            default_value=arg.default_value,
                            description=arg.description,
                        )
                        for arg_name, arg in field.args.items()
                    },
                    resolve=field.resolve,
                    subscribe=field.subscribe,
                    description=field.description,
                )
                for name, field in fields.items()
            }

        return thunk

    def _copy(self, type_: GraphQLNamedType) -> GraphQLNamedType:
        if isinstance(type_, GraphQLObjectType):
            interfaces = type_.interfaces
            return GraphQLObjectType(
                type_.name,
                self._fields(type_.fields),
                interfaces=lambda: [self._interface(i.name) for i in interfaces],
                is_type_of=type_.is_type_of,
                description=type_.description,
            )
        if isinstance(type_, GraphQLInterfaceType):
            return GraphQLInterfaceType(
                type_.name,
                self._fields(type_.fields),
                resolve_type=type_.resolve_type,
                description=type_.description,
            )
        if isinstance(type_, GraphQLInputObjectType):
            input_fields = type_.fields
            return GraphQLInputObjectType(
                type_.name,
                lambda: {
                    name: GraphQLInputField(
                        self.wrapped(field.type),
                        default_value=field.default_value,
                        description=field.description,
                    )
                    for name, field in input_fields.items()
                },
                description=type_.description,
            )
        if isinstance(type_, GraphQLEnumType):
            return GraphQLEnumType(
                type_.name,
                {
                    name: GraphQLEnumValue(value.value, description=value.description)
                    for name, value in type_.values.items()
                },
                description=type_.description,
            )
        if isinstance(type_, GraphQLUnionType):
            members = type_.types
            return GraphQLUnionType(
                type_.name,
                lambda: [self.named(t.name) for t in members],  # type: ignore[misc]
                resolve_type=type_.resolve_type,
                description=type_.description,
            )
        if isinstance(type_, GraphQLScalarType):
            return GraphQLScalarType(
                type_.name,
                serialize=type_.serialize,
                parse_value=type_.parse_value,
                parse_literal=type_.parse_literal,
                description=type_.description,
            )
        raise TypeError(f"Cannot copy GraphQL type {type_!r}.")


def build_from_scratch(schema: GraphQLSchema) -> GraphQLSchema:
    """Build and validate a new schema equal to ``schema`` with bare graphql-core."""
    copier = _SchemaCopier(schema)
    roots = [schema.query_type, schema.mutation_type, schema.subscription_type]
    query, mutation, subscription = (
        None if root is None else copier.named(root.name) for root in roots
    )
    names = [name for name in schema.type_map if not name.startswith("__")]
    copy = GraphQLSchema(
        query=query,  # type: ignore[arg-type]
        mutation=mutation,  # type: ignore[arg-type]
        subscription=subscription,  # type: ignore[arg-type]
        types=[copier.named(name) for name in names],
        directives=schema.directives,
    )
    errors = validate_schema(copy)
    if errors:
        raise RuntimeError(f"The copied schema is invalid: {errors[0].message}")
    if len(copy.type_map) != len(schema.type_map):
        raise RuntimeError(
            f"The copied schema has {len(copy.type_map)} types; the original "
            f"has {len(schema.type_map)}."
        )
    return copy


# Running -----------------------------------------------------------------


async def _measure_size(runtime: Runtime, count: int) -> dict[str, Any]:
    operations = runtime.operations
    manager = SchemaManager(
        runtime.registry,
        runtime.static,
        lambda app_id, ref: operations.typed_resolvers(app_id, ref),
    )
    workspace = f"bench-{count}"
    sources = _sources(count)
    started = time.perf_counter()
    schema = await manager.rebuild(workspace, sources)
    first_build = time.perf_counter() - started

    rebuilds: list[float] = []
    lags: list[float] = []
    for round_number in range(1, REBUILDS + 1):
        # Change a different app each round, spread over the workspace.
        index = (round_number * 7919) % count
        sources[index] = _changed(sources[index], round_number)
        async with LoopLagMeter() as meter:
            started = time.perf_counter()
            schema = await manager.rebuild(workspace, sources)
            rebuilds.append(time.perf_counter() - started)
        lags.append(meter.max_lag)

    baseline: list[float] = []
    for _ in range(BASELINE_BUILDS):
        started = time.perf_counter()
        build_from_scratch(schema)
        baseline.append(time.perf_counter() - started)
    return {
        "apps": count,
        "types": len(schema.type_map),
        "first_build_s": first_build,
        "rebuild_s": rebuilds,
        "max_lag_s": lags,
        "baseline_s": baseline,
    }


async def _measure(data_dir: Path, result: Result) -> None:
    runtime = Runtime(Settings(data_dir=data_dir))
    for count in SIZES:
        numbers = await _measure_size(runtime, count)
        result.numbers[str(count)] = numbers
        _report_size(result, numbers)
    result.notes.append(
        f"Median of {REBUILDS} rebuilds per size, each after a different app got "
        f"a new version. Loop lag is the worst delay of a {TICK_SECONDS * 1000:.0f}"
        f" ms sleep during any rebuild. Baseline is the median of "
        f"{BASELINE_BUILDS} from-scratch builds."
    )


def _report_size(result: Result, numbers: Mapping[str, Any]) -> None:
    count = numbers["apps"]
    rebuild_ms = median(numbers["rebuild_s"]) * 1000
    worst_ms = max(numbers["rebuild_s"]) * 1000
    lag_ms = max(numbers["max_lag_s"]) * 1000
    baseline_ms = median(numbers["baseline_s"]) * 1000
    is_target = count == max(SIZES)
    prefix = f"{count:,} apps ({numbers['types']:,} types)"
    result.add(
        f"{prefix}: rebuild after one change, median (max)",
        f"{rebuild_ms:.1f} ms ({worst_ms:.1f} ms)",
        f"<= {TARGET_REBUILD_MS:.0f} ms" if is_target else "",
        rebuild_ms <= TARGET_REBUILD_MS if is_target else None,
    )
    result.add(
        f"{prefix}: worst event-loop lag",
        f"{lag_ms:.1f} ms",
        f"<= {TARGET_LAG_MS:.0f} ms",
        lag_ms <= TARGET_LAG_MS,
    )
    result.add(
        f"{prefix}: bare graphql-core build from scratch (baseline)",
        f"{baseline_ms:.1f} ms",
    )
    result.add(
        f"{prefix}: ratio rebuild / baseline",
        f"{rebuild_ms / baseline_ms:.2f}",
    )
    result.add(
        f"{prefix}: first build, empty cache",
        f"{numbers['first_build_s'] * 1000:,.0f} ms",
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
