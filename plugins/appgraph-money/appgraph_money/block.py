"""The ``money`` block type: an exact amount in an ISO 4217 currency."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from graphql import (
    GraphQLField,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLString,
)

from blocks import (
    Block,
    BlockType,
    ConfigContext,
    ErrorCode,
    FieldPath,
    FilterNode,
    IndexKind,
    Operand,
    Problem,
    TypeLibrary,
    ValueContext,
    ValueProblem,
    all_of,
    compile_scalar_filter,
)

_CURRENCY_PATTERN = "^[A-Z]{3}$"


class MoneyBlockType(BlockType):
    """An amount of money: exact decimal amount plus currency code."""

    name = "money"
    label = "Money"
    description = "An exact amount with its ISO 4217 currency, such as 12.50 TZS."
    value_type = "Money"
    index_kind = IndexKind.NUMBER
    operand = Operand.NUMBER
    config_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "currencies": {
                "type": "array",
                "items": {"type": "string", "pattern": _CURRENCY_PATTERN},
                "minItems": 1,
                "uniqueItems": True,
                "description": "Allowed ISO 4217 codes; any code when absent.",
            },
            "min": {"type": ["number", "string"], "description": "Smallest amount."},
            "max": {"type": ["number", "string"], "description": "Largest amount."},
            "decimal_places": {
                "type": "integer",
                "minimum": 0,
                "maximum": 8,
                "description": "Digits allowed after the point; default 2.",
            },
        },
    }

    def validate_config(self, block: Block, context: ConfigContext) -> list[Problem]:
        """Check the schema, then that min and max are numbers in order."""
        problems = super().validate_config(block, context)
        bounds = {}
        for key in ("min", "max"):
            if key in block.config:
                try:
                    bounds[key] = Decimal(str(block.config[key]))
                except InvalidOperation:
                    problems.append(
                        Problem(
                            (key,),
                            ErrorCode.INVALID_CONFIG,
                            f"`{key}` must be a number, got {block.config[key]!r}.",
                        )
                    )
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            problems.append(
                Problem(
                    ("min",),
                    ErrorCode.INVALID_CONFIG,
                    f"`min` ({bounds['min']}) is greater than `max` ({bounds['max']}).",
                )
            )
        return problems

    def output_type(self, block: Block, types: TypeLibrary) -> GraphQLOutputType:
        """Return the shared ``Money`` object type."""
        return types.named(
            "Money",
            lambda: GraphQLObjectType(
                "Money",
                {
                    "amount": GraphQLField(
                        GraphQLNonNull(types.decimal), description="Exact amount."
                    ),
                    "currency": GraphQLField(
                        GraphQLNonNull(GraphQLString), description="ISO 4217 code."
                    ),
                },
                description="An amount of money.",
            ),
        )

    def input_type(self, block: Block, types: TypeLibrary) -> GraphQLInputType:
        """Return the shared ``MoneyInput`` input type."""
        return types.named(
            "MoneyInput",
            lambda: GraphQLInputObjectType(
                "MoneyInput",
                {
                    "amount": GraphQLInputField(
                        GraphQLNonNull(types.decimal), description="Exact amount."
                    ),
                    "currency": GraphQLInputField(
                        GraphQLNonNull(GraphQLString), description="ISO 4217 code."
                    ),
                },
                description="An amount of money.",
            ),
        )

    def filter_type(self, block: Block, types: TypeLibrary) -> GraphQLInputType:
        """Return ``MoneyFilter``: conditions on the amount and the currency."""
        return types.named(
            "MoneyFilter",
            lambda: GraphQLInputObjectType(
                "MoneyFilter",
                {
                    "amount": GraphQLInputField(
                        types.scalar_filter(Operand.NUMBER), description="Amount."
                    ),
                    "currency": GraphQLInputField(
                        types.scalar_filter(Operand.TEXT), description="Currency."
                    ),
                },
                description="Conditions on an amount of money.",
            ),
        )

    def compile_filter(
        self, block: Block, path: FieldPath, conditions: Mapping[str, Any]
    ) -> FilterNode:
        """Compile amount and currency conditions on the stored mapping."""
        nodes = []
        if conditions.get("amount"):
            nodes.append(
                compile_scalar_filter(
                    (*path, "amount"), Operand.NUMBER, conditions["amount"]
                )
            )
        if conditions.get("currency"):
            nodes.append(
                compile_scalar_filter(
                    (*path, "currency"), Operand.TEXT, conditions["currency"]
                )
            )
        return all_of(nodes)

    async def normalize(self, block: Block, value: Any, context: ValueContext) -> Any:
        """Check amount, currency and bounds; store the amount as a string."""
        if not isinstance(value, Mapping):
            raise ValueProblem(
                ErrorCode.INVALID_TYPE,
                'Expected {"amount": "12.50", "currency": "TZS"}.',
            )
        currency = value.get("currency")
        if (
            not isinstance(currency, str)
            or not currency.isalpha()
            or len(currency) != 3
        ):
            raise ValueProblem(
                ErrorCode.INVALID,
                f"Expected a three-letter ISO 4217 currency code, got {currency!r}.",
                ("currency",),
            )
        currency = currency.upper()
        allowed = block.config.get("currencies")
        if allowed and currency not in allowed:
            raise ValueProblem(
                ErrorCode.UNKNOWN_OPTION,
                f"Currency {currency} is not allowed here; use one of "
                f"{', '.join(allowed)}.",
                ("currency",),
            )
        amount = _decimal(value.get("amount"))
        places = int(block.config.get("decimal_places", 2))
        exponent = amount.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > places:
            raise ValueProblem(
                ErrorCode.INVALID,
                f"Amount {amount} has more than {places} decimal places.",
                ("amount",),
            )
        for key, bad in (("min", amount.__lt__), ("max", amount.__gt__)):
            if key in block.config and bad(Decimal(str(block.config[key]))):
                raise ValueProblem(
                    ErrorCode.OUT_OF_RANGE,
                    f"Amount {amount} is outside the allowed range "
                    f"{block.config.get('min', '-inf')} to "
                    f"{block.config.get('max', 'inf')}.",
                    ("amount",),
                )
        return {"amount": format(amount, "f"), "currency": currency}

    def to_expression(self, block: Block, stored: Any) -> Any:
        """Let expressions compute with the amount as an exact number."""
        return {"amount": Decimal(stored["amount"]), "currency": stored["currency"]}

    def index_value(self, block: Block, stored: Any) -> Any:
        """Index the amount as a number and the currency as a keyword."""
        return {"amount": Decimal(stored["amount"]), "currency": stored["currency"]}


def _decimal(raw: Any) -> Decimal:
    if isinstance(raw, bool) or raw is None:
        raise ValueProblem(
            ErrorCode.INVALID_TYPE, "Expected an amount such as 12.50.", ("amount",)
        )
    try:
        amount = Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw)
    except (InvalidOperation, TypeError):
        raise ValueProblem(
            ErrorCode.INVALID, f"Expected a number, got {raw!r}.", ("amount",)
        ) from None
    if not amount.is_finite():
        raise ValueProblem(ErrorCode.INVALID, "Amounts must be finite.", ("amount",))
    return amount
