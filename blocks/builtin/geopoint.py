"""The ``geopoint`` block type: a GPS location."""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

from graphql import (
    GraphQLField,
    GraphQLFloat,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
)

from blocks.base import BlockType, IndexKind, ValueContext
from blocks.builtin._support import describe, object_schema
from blocks.definition import Block
from blocks.errors import ErrorCode, ValueProblem
from blocks.filters import FieldPath, FilterNode
from blocks.types import TypeLibrary, compile_geo_filter

_KEYS = ("lat", "lng", "altitude", "accuracy")
_EXAMPLE = 'such as {"lat": -6.7924, "lng": 39.2083} or "-6.7924 39.2083 0 5"'


def geo_point_type() -> GraphQLObjectType:
    """Build the shared ``GeoPoint`` output type."""
    return GraphQLObjectType(
        "GeoPoint",
        {
            "lat": GraphQLField(
                GraphQLNonNull(GraphQLFloat), description="Latitude in degrees, WGS 84."
            ),
            "lng": GraphQLField(
                GraphQLNonNull(GraphQLFloat),
                description="Longitude in degrees, WGS 84.",
            ),
            "altitude": GraphQLField(GraphQLFloat, description="Altitude in metres."),
            "accuracy": GraphQLField(
                GraphQLFloat, description="Horizontal accuracy radius in metres."
            ),
        },
        description="A GPS location.",
    )


def geo_point_input_type() -> GraphQLInputObjectType:
    """Build the shared ``GeoPointInput`` input type."""
    return GraphQLInputObjectType(
        "GeoPointInput",
        {
            "lat": GraphQLInputField(
                GraphQLNonNull(GraphQLFloat),
                description="Latitude in degrees, -90 to 90.",
            ),
            "lng": GraphQLInputField(
                GraphQLNonNull(GraphQLFloat),
                description="Longitude in degrees, -180 to 180.",
            ),
            "altitude": GraphQLInputField(
                GraphQLFloat, description="Altitude in metres."
            ),
            "accuracy": GraphQLInputField(
                GraphQLFloat,
                description="Horizontal accuracy radius in metres, 0 or more.",
            ),
        },
        description="A GPS location.",
    )


class GeoPointBlockType(BlockType):
    """A GPS location stored as ``{lat, lng, altitude, accuracy}`` floats.

    ``altitude`` and ``accuracy`` are stored as null when not given.
    """

    name = "geopoint"
    label = "Location"
    description = "A GPS location with optional altitude and accuracy."
    value_type = "GeoPoint"
    index_kind = IndexKind.GEO
    operand = None
    xlsform_types = ("geopoint",)

    config_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {
            "max_accuracy": {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": (
                    "Largest accepted accuracy radius in metres; a point with a "
                    "larger or no accuracy is rejected."
                ),
            },
        }
    )

    def output_type(self, block: Block, types: TypeLibrary) -> GraphQLOutputType:
        """Return the shared ``GeoPoint`` object type."""
        return types.named("GeoPoint", geo_point_type)

    def input_type(self, block: Block, types: TypeLibrary) -> GraphQLInputType | None:
        """Return the shared ``GeoPointInput`` input type."""
        return types.named("GeoPointInput", geo_point_input_type)

    def filter_type(self, block: Block, types: TypeLibrary) -> GraphQLInputType | None:
        """Return the shared ``GeoPointFilter``."""
        return types.geo_filter()

    def compile_filter(
        self, block: Block, path: FieldPath, conditions: Mapping[str, Any]
    ) -> FilterNode:
        """Compile a ``GeoPointFilter`` value into radius and presence nodes."""
        return compile_geo_filter(path, conditions)

    async def normalize(self, block: Block, value: Any, context: ValueContext) -> Any:
        """Check the point and its ranges; return the four keys as floats or null."""
        if isinstance(value, str):
            point = _parse_xlsform_point(value)
        elif isinstance(value, Mapping):
            point = _parse_mapping(value)
        else:
            raise ValueProblem(
                ErrorCode.INVALID_TYPE,
                f"Expected a location {_EXAMPLE}, got {describe(value)}.",
            )
        _check_ranges(point)
        max_accuracy = block.config.get("max_accuracy")
        if max_accuracy is not None:
            _check_accuracy(point["accuracy"], max_accuracy)
        return point

    def to_expression(self, block: Block, stored: Any) -> Any:
        """Return the stored point as a mapping of Decimals and nulls."""
        if stored is None:
            return None
        return {
            key: None if stored.get(key) is None else Decimal(repr(stored[key]))
            for key in _KEYS
        }

    def index_value(self, block: Block, stored: Any) -> Any:
        """Return ``{lat, lng}`` for the geo index."""
        if stored is None:
            return None
        return {"lat": stored["lat"], "lng": stored["lng"]}


def _parse_xlsform_point(value: str) -> dict[str, float | None]:
    parts = value.split()
    if not 2 <= len(parts) <= 4:
        raise ValueProblem(
            ErrorCode.INVALID,
            f"Expected 2 to 4 space-separated numbers (latitude, longitude, "
            f"altitude, accuracy), {_EXAMPLE}, got {describe(value)}.",
        )
    point: dict[str, float | None] = dict.fromkeys(_KEYS)
    for key, part in zip(_KEYS, parts, strict=False):
        try:
            point[key] = _finite(key, float(part))
        except ValueError:
            raise ValueProblem(
                ErrorCode.INVALID,
                f"Expected a number for {key}, got {describe(part)}.",
                (key,),
            ) from None
    return point


def _parse_mapping(value: Mapping[str, Any]) -> dict[str, float | None]:
    unknown = sorted(str(key) for key in value if key not in _KEYS)
    if unknown:
        raise ValueProblem(
            ErrorCode.UNKNOWN_FIELD,
            f"Unknown location key(s) {', '.join(unknown)}; expected lat, lng, "
            "altitude and accuracy.",
        )
    point: dict[str, float | None] = dict.fromkeys(_KEYS)
    for key in _KEYS:
        item = value.get(key)
        if item is None:
            if key in ("lat", "lng"):
                raise ValueProblem(
                    ErrorCode.REQUIRED,
                    f"Expected {key} in the location, {_EXAMPLE}.",
                    (key,),
                )
            continue
        if isinstance(item, bool) or not isinstance(item, int | float | Decimal):
            raise ValueProblem(
                ErrorCode.INVALID_TYPE,
                f"Expected a number for {key}, got {describe(item)}.",
                (key,),
            )
        try:
            number = float(item)
        except OverflowError:
            raise ValueProblem(
                ErrorCode.OUT_OF_RANGE,
                f"Expected {key} within the range of a float, got a larger number.",
                (key,),
            ) from None
        point[key] = _finite(key, number)
    return point


def _finite(key: str, number: float) -> float:
    if not math.isfinite(number):
        raise ValueProblem(
            ErrorCode.INVALID,
            f"Expected a finite number for {key}, got {number}.",
            (key,),
        )
    return number


def _check_ranges(point: Mapping[str, float | None]) -> None:
    lat = point["lat"]
    lng = point["lng"]
    accuracy = point["accuracy"]
    assert lat is not None and lng is not None
    if not -90 <= lat <= 90:
        raise ValueProblem(
            ErrorCode.OUT_OF_RANGE,
            f"Expected a latitude from -90 to 90 degrees, got {lat}.",
            ("lat",),
        )
    if not -180 <= lng <= 180:
        raise ValueProblem(
            ErrorCode.OUT_OF_RANGE,
            f"Expected a longitude from -180 to 180 degrees, got {lng}.",
            ("lng",),
        )
    if accuracy is not None and accuracy < 0:
        raise ValueProblem(
            ErrorCode.OUT_OF_RANGE,
            f"Expected an accuracy of 0 metres or more, got {accuracy}.",
            ("accuracy",),
        )


def _check_accuracy(accuracy: float | None, max_accuracy: float) -> None:
    if accuracy is None:
        raise ValueProblem(
            ErrorCode.REQUIRED,
            f"Expected an accuracy of at most {max_accuracy} metres; this block "
            "rejects locations without one.",
            ("accuracy",),
        )
    if accuracy > max_accuracy:
        raise ValueProblem(
            ErrorCode.OUT_OF_RANGE,
            f"Expected an accuracy of at most {max_accuracy} metres, got "
            f"{accuracy}; wait for a better GPS fix and try again.",
            ("accuracy",),
        )
