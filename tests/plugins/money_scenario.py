"""End-to-end use of the money plugin, run in a process where it is installed.

Prints one JSON object with what each step returned, for the test to check.
"""

import json
import sys
import tempfile
from pathlib import Path

from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from store import Role

DEFINITION = {
    "blocks": [
        {"id": "item", "type": "text", "required": True},
        {
            "id": "price",
            "type": "money",
            "required": True,
            "config": {"currencies": ["TZS", "USD"], "min": 0},
        },
    ]
}
CREATE = """
mutation($data: ShopSaleData!) {
  shopSaleCreate(input: {data: $data}) {
    record { id item price { amount currency } }
    errors { path code message }
  }
}
"""
LIST = """
{ shopSaleRecords(where: {price: {amount: {gt: "100"}}}) {
    edges { node { item price { amount currency } } } } }
"""


def main() -> None:
    data_dir = Path(tempfile.mkdtemp())
    app = create_app(Settings(data_dir=data_dir))
    runtime = app.state.runtime
    out: dict[str, object] = {}
    with TestClient(app) as client:

        async def setup() -> str:
            workspace = await runtime.store.create_workspace("shop", "Shop")
            token, _ = await runtime.store.create_token(
                workspace.id, Role.ADMIN, "owner", "test"
            )
            await runtime.services.refresh_schema(workspace.id)
            return str(token)

        token = client.portal.call(setup)
        headers = {"Authorization": f"Bearer {token}"}

        def post(query: str, variables: dict[str, object] | None = None) -> object:
            response = client.post(
                "/graphql",
                json={"query": query, "variables": variables or {}},
                headers=headers,
            )
            return response.json()

        out["catalogue"] = post("{ blockTypes { name plugin valueType } }")
        out["create_app"] = post(
            'mutation($d: JSON!) { appCreate(input: {slug: "shop-sale", '
            'name: "Sales", definition: $d}) { app { typeName } '
            "errors { path code message } } }",
            {"d": DEFINITION},
        )
        out["valid"] = post(
            CREATE,
            {
                "data": {
                    "item": "Maize",
                    "price": {"amount": "1500.50", "currency": "TZS"},
                }
            },
        )
        out["small"] = post(
            CREATE,
            {"data": {"item": "Salt", "price": {"amount": "12", "currency": "USD"}}},
        )
        out["bad_currency"] = post(
            CREATE,
            {"data": {"item": "Tea", "price": {"amount": "3", "currency": "EUR"}}},
        )
        out["too_precise"] = post(
            CREATE,
            {"data": {"item": "Tea", "price": {"amount": "3.001", "currency": "USD"}}},
        )
        out["list"] = post(LIST)
        out["stored"] = client.portal.call(_stored_prices, runtime)
    json.dump(out, sys.stdout)


async def _stored_prices(runtime: object) -> list[object]:
    store = runtime.store  # type: ignore[attr-defined]
    workspace = await store.get_workspace_by_slug("shop")
    app = await store.get_app_by_slug(workspace.id, "shop-sale")
    page = await store.query_records(app.id, where=None, order=[], first=10, after=None)
    return [record.data["price"] for record in page.items]


if __name__ == "__main__":
    main()
