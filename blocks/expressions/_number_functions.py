"""Number functions: rounding, conversion, powers, roots, logarithms and distance."""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from ._context import CallContext
from ._lexer import MAX_INTEGER_DIGITS, parse_number_text
from ._values import (
    DECIMAL_CONTEXT,
    Number,
    describe,
    is_number,
    require_integer,
    require_number,
    to_decimal,
    type_name,
)
from .errors import ExpressionEvaluationError, ExpressionLimitError

ROUND_MAX_PLACES = 100
POW_MAX_EXPONENT = 64
POW_MAX_DIGITS = 1_000
# Mean Earth radius R1 of the International Union of Geodesy and Geophysics.
EARTH_RADIUS_METRES = 6_371_008.8
_MILLIMETRE = Decimal("0.001")


def decimal_to_int(value: Decimal, where: str) -> int:
    """Convert an integral Decimal to int, rejecting ones with too many digits."""
    if value.adjusted() >= MAX_INTEGER_DIGITS:
        raise ExpressionEvaluationError(
            f"{where} result has more than {MAX_INTEGER_DIGITS} digits."
        )
    return int(value)


def _run_decimal(where: str, operation: Callable[[], Decimal]) -> Decimal:
    try:
        return operation()
    except ArithmeticError as error:
        raise ExpressionEvaluationError(
            f"{where} failed: the result is undefined or too large "
            f"({type(error).__name__})."
        ) from None


def round_number(context: CallContext, value: object, places: object = 0) -> object:
    """Round half away from zero to ``places`` digits after the point.

    With ``places`` 0 or less the result is an int. Otherwise it is a Decimal
    with exactly ``places`` digits after the point. Null stays null.
    """
    if value is None:
        return None
    number = require_number(value, "round() as its first argument")
    digits = require_integer(places, "round() as its places")
    if abs(digits) > ROUND_MAX_PLACES:
        raise ExpressionEvaluationError(
            f"round() needs places between -{ROUND_MAX_PLACES} and "
            f"{ROUND_MAX_PLACES}, got {digits}."
        )
    if isinstance(number, int) and digits <= 0:
        step = 10**-digits
        rounded = (abs(number) + step // 2) // step * step
        return rounded if number >= 0 else -rounded
    exact = to_decimal(number)
    # quantize() fails when the result has more digits than the context's
    # precision, so the precision is raised to fit round(1.5, 100) exactly.
    result_digits = max(exact.adjusted(), 0) + 1 + max(digits, 0)
    if result_digits > MAX_INTEGER_DIGITS:
        raise ExpressionEvaluationError(
            f"round() result would have more than {MAX_INTEGER_DIGITS} digits."
        )
    rounding_context = DECIMAL_CONTEXT.copy()
    rounding_context.prec = max(rounding_context.prec, result_digits)
    quantum = Decimal(1).scaleb(-digits)
    result = _run_decimal(
        "round()",
        lambda: exact.quantize(
            quantum, rounding=ROUND_HALF_UP, context=rounding_context
        ),
    )
    if digits <= 0:
        return decimal_to_int(result, "round()")
    return result


def _to_integral(value: object, name: str, rounding: str) -> object:
    if value is None:
        return None
    number = require_number(value, f"{name}()")
    if isinstance(number, int):
        return number
    return decimal_to_int(number.to_integral_value(rounding=rounding), f"{name}()")


def floor_number(context: CallContext, value: object) -> object:
    """Round down to an int. Null stays null."""
    return _to_integral(value, "floor", ROUND_FLOOR)


def ceil_number(context: CallContext, value: object) -> object:
    """Round up to an int. Null stays null."""
    return _to_integral(value, "ceil", ROUND_CEILING)


def absolute(context: CallContext, value: object) -> object:
    """Return the absolute value. Null stays null."""
    if value is None:
        return None
    number = require_number(value, "abs()")
    return abs(number) if isinstance(number, int) else number.copy_abs()


def _parse_numeric_string(text: str) -> Number | None:
    try:
        return parse_number_text(text.strip())
    except ValueError:
        return None


def to_int(context: CallContext, value: object) -> object:
    """Truncate a number or numeric string toward zero. Null stays null."""
    if value is None:
        return None
    if isinstance(value, str):
        parsed = _parse_numeric_string(value)
        if parsed is None:
            raise ExpressionEvaluationError(
                f"int() needs a number or a numeric string such as '12' or '-3.5', "
                f"got {describe(value)}."
            )
        value = parsed
    number = require_number(value, "int()")
    if isinstance(number, int):
        return number
    return decimal_to_int(number.to_integral_value(rounding=ROUND_DOWN), "int()")


def to_number(context: CallContext, value: object) -> object:
    """Convert a numeric string to int or Decimal. Invalid strings give null."""
    if value is None or is_number(value):
        return value
    if isinstance(value, str):
        return _parse_numeric_string(value)
    raise ExpressionEvaluationError(
        "number() needs a string or a number, "
        f"got {describe(value)} ({type_name(value)})."
    )


def power(context: CallContext, base: object, exponent: object) -> object:
    """Raise ``base`` to a whole ``exponent`` between -64 and 64. Null gives null.

    An int base with a non-negative exponent gives an exact int. Other cases
    give a Decimal rounded to 34 significant digits.
    """
    if base is None or exponent is None:
        return None
    number = require_number(base, "pow() as its base")
    times = require_integer(exponent, "pow() as its exponent")
    if abs(times) > POW_MAX_EXPONENT:
        raise ExpressionLimitError(
            "pow_max_exponent",
            POW_MAX_EXPONENT,
            f"pow() needs an exponent between -{POW_MAX_EXPONENT} and "
            f"{POW_MAX_EXPONENT}, got {times}.",
        )
    if times == 0:
        return 1
    if isinstance(number, int) and times > 0:
        # Estimate the result's digits from its bits (log10(2) is 0.30103).
        if number.bit_length() * times * 0.30103 > POW_MAX_DIGITS:
            raise ExpressionLimitError(
                "pow_max_digits",
                POW_MAX_DIGITS,
                f"pow() result would have more than {POW_MAX_DIGITS} digits.",
            )
        return number**times
    if number == 0 and times < 0:
        raise ExpressionEvaluationError("pow() cannot raise 0 to a negative exponent.")
    return _run_decimal(
        "pow()", lambda: DECIMAL_CONTEXT.power(to_decimal(number), times)
    )


def square_root(context: CallContext, value: object) -> object:
    """Return the square root as a Decimal. Null stays null."""
    if value is None:
        return None
    number = require_number(value, "sqrt()")
    if number < 0:
        raise ExpressionEvaluationError(
            f"sqrt() needs a number of 0 or more, got {describe(number)}."
        )
    return _run_decimal("sqrt()", lambda: DECIMAL_CONTEXT.sqrt(to_decimal(number)))


def exponential(context: CallContext, value: object) -> object:
    """Return e raised to ``value`` as a Decimal. Null stays null."""
    if value is None:
        return None
    number = require_number(value, "exp()")
    return _run_decimal("exp()", lambda: DECIMAL_CONTEXT.exp(to_decimal(number)))


def _logarithm(value: object, name: str, base10: bool) -> object:
    if value is None:
        return None
    number = require_number(value, f"{name}()")
    if number <= 0:
        raise ExpressionEvaluationError(
            f"{name}() needs a number greater than 0, got {describe(number)}."
        )
    exact = to_decimal(number)
    if base10:
        return _run_decimal(f"{name}()", lambda: DECIMAL_CONTEXT.log10(exact))
    return _run_decimal(f"{name}()", lambda: DECIMAL_CONTEXT.ln(exact))


def natural_log(context: CallContext, value: object) -> object:
    """Return the natural logarithm as a Decimal. Null stays null."""
    return _logarithm(value, "log", base10=False)


def log10(context: CallContext, value: object) -> object:
    """Return the base-10 logarithm as a Decimal. Null stays null."""
    return _logarithm(value, "log10", base10=True)


def distance(
    context: CallContext, lat1: object, lng1: object, lat2: object, lng2: object
) -> object:
    """Return the great-circle distance in metres, as a Decimal with 3 places.

    The haversine formula runs on binary floating point and assumes a sphere
    of radius EARTH_RADIUS_METRES, so results on the ellipsoid can differ by
    up to about 0.5%. Any null argument gives null.
    """
    coordinates = (lat1, lng1, lat2, lng2)
    if any(value is None for value in coordinates):
        return None
    names = ("lat1", "lng1", "lat2", "lng2")
    degrees: list[float] = []
    for name, value in zip(names, coordinates, strict=True):
        number = require_number(value, f"distance() as {name}")
        bound = 90 if name.startswith("lat") else 180
        if not -bound <= number <= bound:
            raise ExpressionEvaluationError(
                f"distance() needs {name} between -{bound} and {bound} degrees, "
                f"got {describe(number)}."
            )
        degrees.append(float(number))
    phi1, lambda1, phi2, lambda2 = (math.radians(value) for value in degrees)
    haversine = (
        math.sin((phi2 - phi1) / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin((lambda2 - lambda1) / 2) ** 2
    )
    central_angle = 2 * math.asin(min(1.0, math.sqrt(haversine)))
    metres = EARTH_RADIUS_METRES * central_angle
    return Decimal(repr(metres)).quantize(_MILLIMETRE, rounding=ROUND_HALF_UP)


# Trigonometry ---------------------------------------------------------------
#
# Decimal has no trigonometric functions, so these run on binary floating
# point and round the result to 15 significant digits, which a float always
# holds exactly. Angles are in radians, as in XPath and ODK forms.

_TRIG_DIGITS = 15


def _from_float(result: float) -> Decimal:
    if not math.isfinite(result):
        raise ExpressionEvaluationError(f"The result {result} is not a finite number.")
    return Decimal(format(result, f".{_TRIG_DIGITS}g"))


def _trig(
    name: str, operation: Callable[[float], float], domain: tuple[float, float] | None
) -> Callable[[CallContext, object], object]:
    def function(context: CallContext, value: object) -> object:
        if value is None:
            return None
        number = float(require_number(value, f"{name}()"))
        if domain is not None and not domain[0] <= number <= domain[1]:
            raise ExpressionEvaluationError(
                f"{name}() needs a number from {domain[0]:g} to {domain[1]:g}, "
                f"got {describe(value)}."
            )
        return _from_float(operation(number))

    function.__doc__ = f"Return {name} of a number in radians. Null stays null."
    return function


sine = _trig("sin", math.sin, None)
cosine = _trig("cos", math.cos, None)
tangent = _trig("tan", math.tan, None)
arc_sine = _trig("asin", math.asin, (-1.0, 1.0))
arc_cosine = _trig("acos", math.acos, (-1.0, 1.0))
arc_tangent = _trig("atan", math.atan, None)


def arc_tangent2(context: CallContext, y: object, x: object) -> object:
    """Return the angle of the point (x, y) in radians. Null stays null."""
    if y is None or x is None:
        return None
    return _from_float(
        math.atan2(
            float(require_number(y, "atan2() as y")),
            float(require_number(x, "atan2() as x")),
        )
    )


def pi(context: CallContext) -> object:
    """Return pi to 15 significant digits."""
    return _from_float(math.pi)
