from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from graphql import GraphQLFloat, GraphQLInputObjectType

from blocks.base import ConfigContext, IndexKind, ValueContext
from blocks.builtin.geopoint import GeoPointBlockType
from blocks.definition import Block
from blocks.errors import ErrorCode, ValueProblem
from blocks.filters import And, Compare, Not, Operator, WithinRadius
from blocks.types import TypeLibrary

GEOPOINT = GeoPointBlockType()


def geo_block(**config: Any) -> Block:
    return Block("plot", "geopoint", config=config)


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (
            {"lat": -6.7924, "lng": 39.2083},
            {"lat": -6.7924, "lng": 39.2083, "altitude": None, "accuracy": None},
        ),
        (
            {"lat": 90, "lng": -180, "altitude": 12.5, "accuracy": 0},
            {"lat": 90.0, "lng": -180.0, "altitude": 12.5, "accuracy": 0.0},
        ),
        (
            {"lat": Decimal("1.5"), "lng": 2, "altitude": None},
            {"lat": 1.5, "lng": 2.0, "altitude": None, "accuracy": None},
        ),
        (
            "-6.7924 39.2083 10 4.5",
            {"lat": -6.7924, "lng": 39.2083, "altitude": 10.0, "accuracy": 4.5},
        ),
        (
            "-6.7924 39.2083",
            {"lat": -6.7924, "lng": 39.2083, "altitude": None, "accuracy": None},
        ),
    ],
)
async def test_geopoint_accepts(
    context: ValueContext, value: object, stored: dict[str, Any]
) -> None:
    result = await GEOPOINT.normalize(geo_block(), value, context)
    assert result == stored
    assert all(isinstance(result[key], float) for key in ("lat", "lng"))


@pytest.mark.parametrize(
    ("value", "code", "path", "fragment"),
    [
        ([1, 2], ErrorCode.INVALID_TYPE, (), "Expected a location"),
        ({"lat": 1}, ErrorCode.REQUIRED, ("lng",), "Expected lng"),
        ({"lat": "1", "lng": 2}, ErrorCode.INVALID_TYPE, ("lat",), "a number for lat"),
        ({"lat": True, "lng": 2}, ErrorCode.INVALID_TYPE, ("lat",), "a number for lat"),
        ({"lat": 1, "lng": 2, "alt": 3}, ErrorCode.UNKNOWN_FIELD, (), "alt"),
        ({"lat": 91, "lng": 0}, ErrorCode.OUT_OF_RANGE, ("lat",), "-90 to 90"),
        ({"lat": 0, "lng": -180.5}, ErrorCode.OUT_OF_RANGE, ("lng",), "-180 to 180"),
        (
            {"lat": 0, "lng": 0, "accuracy": -1},
            ErrorCode.OUT_OF_RANGE,
            ("accuracy",),
            "0 metres or more",
        ),
        ({"lat": float("nan"), "lng": 0}, ErrorCode.INVALID, ("lat",), "finite"),
        (
            {"lat": 10**400, "lng": 0},
            ErrorCode.OUT_OF_RANGE,
            ("lat",),
            "range of a float",
        ),
        ("-6.7924", ErrorCode.INVALID, (), "2 to 4 space-separated numbers"),
        ("1 2 3 4 5", ErrorCode.INVALID, (), "2 to 4 space-separated numbers"),
        ("1 east", ErrorCode.INVALID, ("lng",), "a number for lng"),
        ("inf 2", ErrorCode.INVALID, ("lat",), "finite"),
    ],
)
async def test_geopoint_rejects(
    context: ValueContext,
    value: object,
    code: ErrorCode,
    path: tuple[str, ...],
    fragment: str,
) -> None:
    with pytest.raises(ValueProblem) as caught:
        await GEOPOINT.normalize(geo_block(), value, context)
    assert caught.value.code is code
    assert caught.value.path == path
    assert fragment in caught.value.message


async def test_geopoint_max_accuracy(context: ValueContext) -> None:
    block = geo_block(max_accuracy=10)
    point = {"lat": 1, "lng": 2, "accuracy": 10}
    assert (await GEOPOINT.normalize(block, point, context))["accuracy"] == 10.0
    with pytest.raises(ValueProblem) as caught:
        await GEOPOINT.normalize(block, {**point, "accuracy": 10.5}, context)
    assert caught.value.code is ErrorCode.OUT_OF_RANGE
    assert "at most 10 metres, got 10.5" in caught.value.message


async def test_geopoint_max_accuracy_needs_accuracy(context: ValueContext) -> None:
    with pytest.raises(ValueProblem) as caught:
        await GEOPOINT.normalize(geo_block(max_accuracy=10), "1 2", context)
    assert caught.value.code is ErrorCode.REQUIRED
    assert caught.value.path == ("accuracy",)


@pytest.mark.parametrize("max_accuracy", [0, -5, "10"])
def test_geopoint_config_invalid_max_accuracy(max_accuracy: object) -> None:
    problems = GEOPOINT.validate_config(
        geo_block(max_accuracy=max_accuracy), ConfigContext()
    )
    assert [p.path for p in problems] == [("max_accuracy",)]
    assert problems[0].code is ErrorCode.INVALID_CONFIG


def test_geopoint_shared_types() -> None:
    types = TypeLibrary()
    output = GEOPOINT.output_type(geo_block(), types)
    assert str(output) == "GeoPoint"
    assert GEOPOINT.output_type(geo_block(), types) is output
    assert types.get("GeoPoint") is output
    input_type = GEOPOINT.input_type(geo_block(), types)
    assert input_type is types.get("GeoPointInput")
    assert isinstance(input_type, GraphQLInputObjectType)
    fields = input_type.fields
    assert str(fields["lat"].type) == "Float!"
    assert fields["accuracy"].type is GraphQLFloat
    assert GEOPOINT.filter_type(geo_block(), types) is types.get("GeoPointFilter")


def test_geopoint_filter_compiles_radius() -> None:
    conditions = {
        "withinRadius": {"lat": Decimal("-6.8"), "lng": Decimal("39.2"), "meters": 500},
        "isNull": False,
    }
    node = GEOPOINT.compile_filter(geo_block(), ("plot",), conditions)
    assert node == And(
        (
            WithinRadius(("plot",), Decimal("-6.8"), Decimal("39.2"), Decimal("500")),
            Not(Compare(("plot",), Operator.IS_NULL, True)),
        )
    )


def test_geopoint_index_value() -> None:
    stored = {"lat": -6.7924, "lng": 39.2083, "altitude": None, "accuracy": 4.0}
    assert GEOPOINT.index_kind is IndexKind.GEO
    assert GEOPOINT.index_value(geo_block(), stored) == {"lat": -6.7924, "lng": 39.2083}


def test_geopoint_expression_value() -> None:
    stored = {"lat": -6.7924, "lng": 39.2083, "altitude": None, "accuracy": 4.0}
    assert GEOPOINT.to_expression(geo_block(), stored) == {
        "lat": Decimal("-6.7924"),
        "lng": Decimal("39.2083"),
        "altitude": None,
        "accuracy": Decimal("4.0"),
    }
