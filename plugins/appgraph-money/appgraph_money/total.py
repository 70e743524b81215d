"""The ``money_total`` workflow step: the sum of money values in one currency.

The step evaluates ``items`` to a list, such as the rows of a repeat
(``record.lines``) or a list built from earlier steps
(``[steps.lines_total, record.delivery]``). It reads the money value of each
item at the key ``field``, or takes the item itself when ``field`` is absent.
A money value is a mapping with ``amount`` and ``currency``: the ``money``
block's expression value, or the JSON form that step outputs and triggers
carry, where the amount is a decimal string or a number.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

from workflows.errors import StepError
from workflows.steps import NO_RETRY, RetryPolicy, StepContext, StepOutcome, StepType

MAX_DIGITS = 40
"""Significant digits a total may have; a longer one fails rather than rounds."""

_CURRENCY_PATTERN = "^[A-Z]{3}$"


class MoneyTotalStepType(StepType):
    """Sum the money values of a list, requiring a single currency.

    The output is ``{"amount": "<exact decimal>", "currency": "<code>",
    "count": <values summed>}``, which later steps read as
    ``steps.<id>.amount`` and can write into a ``money`` field as they are.
    """

    name = "money_total"
    label = "Money total"
    description = (
        "Sum a money field over a list, such as the rows of a repeat, and fail "
        "when the amounts are in more than one currency."
    )
    config_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {
            "items": {
                "type": "string",
                "minLength": 1,
                "description": (
                    "Expression giving the list to sum, such as record.lines "
                    "or a list from an earlier step."
                ),
            },
            "field": {
                "type": "string",
                "minLength": 1,
                "description": (
                    "Key of the money value in each item, such as a block id of "
                    "the repeat; omit it when the items are money values."
                ),
            },
            "currency": {
                "type": "string",
                "pattern": _CURRENCY_PATTERN,
                "description": (
                    "ISO 4217 code that every amount must have. Without it, "
                    "the amounts must share any one currency."
                ),
            },
        },
        "required": ["items"],
        "additionalProperties": False,
    }
    # The sum depends only on the run's stored snapshot and step outputs, so
    # another attempt would fail the same way.
    retry: ClassVar[RetryPolicy] = NO_RETRY
    timeout: ClassVar[float] = 10.0

    def config_expressions(
        self, config: Mapping[str, Any]
    ) -> Mapping[tuple[str | int, ...], str]:
        """Return the ``items`` expression."""
        return {("items",): config["items"]}

    async def run(self, ctx: StepContext) -> StepOutcome:
        """Sum the amounts and return the total with its currency.

        Items whose money value is null, such as a repeat row with an empty
        optional field, are skipped. A null list sums to 0.

        Raises:
            StepError: not retryable. The list is not a list, an item has no
                valid money value, the currencies differ from each other or
                from ``currency``, or the total has more than
                :data:`MAX_DIGITS` significant digits.
        """
        config = ctx.step.config
        items = ctx.evaluate(config["items"], "items")
        values = _money_values(ctx, items, config.get("field"))
        expected = config.get("currency")
        currency = _single_currency(ctx, values, expected)
        total = _sum(ctx, [amount for _position, amount, _currency in values])
        return StepOutcome(
            {
                "amount": format(total, "f"),
                "currency": currency,
                "count": len(values),
            }
        )


_MoneyValue = tuple[int, Decimal, str]
"""One money value of the list: 1-based position, amount, currency code."""


def _money_values(
    ctx: StepContext, items: object, field: str | None
) -> list[_MoneyValue]:
    if items is None:
        return []
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise _failure(
            ctx,
            f"'items' must give a list, got {type(items).__name__} {items!r}.",
        )
    values = []
    for position, item in enumerate(items, start=1):
        if field is None:
            money = item
        elif isinstance(item, Mapping):
            money = item.get(field)
        else:
            raise _failure(
                ctx,
                f"item {position} must be a mapping with the key {field!r}, got "
                f"{type(item).__name__} {item!r}.",
            )
        if money is not None:
            values.append(_money_value(ctx, position, money))
    return values


def _money_value(ctx: StepContext, position: int, money: object) -> _MoneyValue:
    if not isinstance(money, Mapping):
        raise _failure(
            ctx,
            f"item {position} must be a money value "
            f'{{"amount": ..., "currency": ...}}, got {money!r}.',
        )
    currency = money.get("currency")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise _failure(
            ctx,
            f"item {position} has the currency {currency!r}; expected a "
            "three-letter ISO 4217 code.",
        )
    return position, _amount(ctx, position, money.get("amount")), currency.upper()


def _amount(ctx: StepContext, position: int, raw: object) -> Decimal:
    amount: Decimal | None = None
    if isinstance(raw, Decimal | int | str) and not isinstance(raw, bool):
        try:
            amount = Decimal(raw)
        except decimal.InvalidOperation:
            amount = None
    elif isinstance(raw, float):
        amount = Decimal(repr(raw))
    if amount is None or not amount.is_finite():
        raise _failure(
            ctx,
            f"item {position} has the amount {raw!r}; expected a finite number "
            "or a decimal string such as '12.50'.",
        )
    return amount


def _single_currency(
    ctx: StepContext, values: Sequence[_MoneyValue], expected: str | None
) -> str | None:
    if expected is not None:
        for position, _amount, currency in values:
            if currency != expected:
                raise _failure(
                    ctx,
                    f"item {position} is in {currency}, but the step sums "
                    f"{expected} amounts only. Remove other currencies from the "
                    "list or change 'currency'.",
                )
        return expected
    if not values:
        return None
    first_position, _first_amount, first = values[0]
    for position, _amount, currency in values[1:]:
        if currency != first:
            raise _failure(
                ctx,
                f"cannot sum amounts in different currencies: item "
                f"{first_position} is in {first} and item {position} in "
                f"{currency}. Convert the amounts to one currency first.",
            )
    return first


def _sum(ctx: StepContext, amounts: Sequence[Decimal]) -> Decimal:
    with decimal.localcontext() as context:
        context.prec = MAX_DIGITS
        context.traps[decimal.Inexact] = True
        try:
            return sum(amounts, Decimal(0))
        except decimal.Inexact:
            raise _failure(
                ctx,
                f"the total has more than {MAX_DIGITS} significant digits and "
                "cannot be stored exactly.",
            ) from None


def _failure(ctx: StepContext, reason: str) -> StepError:
    return StepError(f"Step {ctx.step.id!r}: {reason}", retryable=False)
