"""End-to-end use of the money plugin, run in a process where it is installed.

Prints one JSON object with what each step returned, for the test to check.
"""

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from store import Role
from workflows.settings import WorkflowSettings

FAST = WorkflowSettings(
    dispatch_interval=0.05,
    sweep_interval=0.2,
    schedule_interval=0.5,
    worker_threads=2,
    worker_timeout=0.1,
)

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
INVOICE = {
    "blocks": [
        {"id": "customer", "type": "text", "required": True},
        {
            "id": "lines",
            "type": "repeat",
            "children": [
                {"id": "item", "type": "text", "required": True},
                {"id": "price", "type": "money"},
            ],
        },
        {"id": "delivery", "type": "money", "required": True},
        {"id": "total", "type": "money"},
    ]
}
INVOICE_TOTAL = {
    "name": "Invoice total",
    "trigger": {"type": "record_created"},
    "steps": [
        {
            "id": "lines_total",
            "type": "money_total",
            "config": {"items": "record.lines", "field": "price", "currency": "TZS"},
        },
        {
            "id": "grand_total",
            "type": "money_total",
            "config": {"items": "[steps.lines_total, record.delivery]"},
        },
        {
            "id": "store_total",
            "type": "set_fields",
            "config": {"fields": {"total": "steps.grand_total"}},
        },
    ],
}
BROKEN_CONFIGS: dict[str, dict[str, object]] = {
    "lowercase_currency": {"items": "record.lines", "currency": "tzs"},
    "missing_items": {"field": "price"},
    "unknown_key": {"items": "record.lines", "round": 2},
    "bad_expression": {"items": "record.lines +"},
}
WORKFLOW_CREATE = """
mutation($input: WorkflowCreateInput!) {
  workflowCreate(input: $input) {
    workflow { id }
    errors { path code message }
  }
}
"""
RECORD_CREATE = """
mutation($data: JSON!) {
  recordCreate(input: {app: "invoice", data: $data}) {
    record { id }
    errors { path code message }
  }
}
"""
RUNS = """
query($workflow: ID!) {
  workflowRuns(workflow: $workflow) { nodes { id status recordId } }
}
"""
RUN = """
query($id: ID!) {
  workflowRun(id: $id) {
    status recordId error errorStep
    steps { key stepType status attempts output error }
  }
}
"""
RECORD = "query($id: ID!) { record(id: $id) { data } }"
RUN_START = """
mutation($input: WorkflowRunStartInput!) {
  workflowRunStart(input: $input) { run { id } errors { path code message } }
}
"""
# Lists that manual runs sum as ``trigger.input.items``, by case name.
SUM_INPUTS: dict[str, object] = {
    "null_list": None,
    "floats_and_numbers": [
        {"amount": 0.1, "currency": "usd"},
        {"amount": 2, "currency": "USD"},
        {"amount": "0.20", "currency": "USD"},
    ],
    "not_a_list": "12 TZS",
    "not_money": [{"amount": "1", "currency": "TZS"}, 5],
    "bad_currency": [{"amount": "1", "currency": "TZSH"}],
    "missing_currency": [{"amount": "1"}],
    "text_amount": [{"amount": "twelve", "currency": "TZS"}],
    "boolean_amount": [{"amount": True, "currency": "TZS"}],
    "infinite_amount": [{"amount": "Infinity", "currency": "TZS"}],
    "too_many_digits": [
        {"amount": "1E+39", "currency": "TZS"},
        {"amount": "0.1", "currency": "TZS"},
    ],
}
LIST = """
{ shopSaleRecords(where: {price: {amount: {gt: "100"}}}) {
    edges { node { item price { amount currency } } } } }
"""


def main() -> None:
    data_dir = Path(tempfile.mkdtemp())
    app = create_app(Settings(data_dir=data_dir, workflow=FAST))
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

        def post(query: str, variables: dict[str, object] | None = None) -> Any:
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
        out["step_types"] = post("{ stepTypes { name label plugin maxAttempts } }")
        out.update(_invoice_workflow(post))
        out["sums"] = _manual_sums(post)
    json.dump(out, sys.stdout)


def _invoice_workflow(post: Any) -> dict[str, object]:
    """Run the invoice total workflow on three submissions; return what it did."""
    out: dict[str, object] = {}
    out["create_invoice_app"] = post(
        'mutation($d: JSON!) { appCreate(input: {slug: "invoice", '
        'name: "Invoices", definition: $d}) { errors { path code message } } }',
        {"d": INVOICE},
    )
    out["broken_configs"] = {
        name: post(
            WORKFLOW_CREATE,
            {"input": {"app": "invoice", "definition": _one_step(config)}},
        )
        for name, config in BROKEN_CONFIGS.items()
    }
    created = post(
        WORKFLOW_CREATE, {"input": {"app": "invoice", "definition": INVOICE_TOTAL}}
    )
    out["create_workflow"] = created
    workflow_id = created["data"]["workflowCreate"]["workflow"]["id"]

    tzs_lines = [
        {"item": "Maize", "price": {"amount": "1500.50", "currency": "TZS"}},
        {"item": "Salt", "price": {"amount": "12", "currency": "TZS"}},
        {"item": "Bag", "price": None},
    ]
    submissions = {
        "one_currency": {
            "customer": "Asha",
            "lines": tzs_lines,
            "delivery": {"amount": "20", "currency": "TZS"},
        },
        "usd_line": {
            "customer": "Baraka",
            "lines": [
                *tzs_lines,
                {"item": "Tea", "price": {"amount": "3", "currency": "USD"}},
            ],
            "delivery": {"amount": "20", "currency": "TZS"},
        },
        "usd_delivery": {
            "customer": "Chausiku",
            "lines": tzs_lines,
            "delivery": {"amount": "5", "currency": "USD"},
        },
    }
    record_ids = {}
    for name, data in submissions.items():
        payload = post(RECORD_CREATE, {"data": data})["data"]["recordCreate"]
        assert payload["errors"] == [], payload
        record_ids[payload["record"]["id"]] = name

    runs = _finished_runs(post, workflow_id, len(record_ids))
    out["runs"] = {
        record_ids[run["recordId"]]: post(RUN, {"id": run["id"]})["data"]["workflowRun"]
        for run in runs
    }
    out["records"] = {
        name: post(RECORD, {"id": record_id})["data"]["record"]["data"]
        for record_id, name in record_ids.items()
    }
    return out


def _manual_sums(post: Any) -> dict[str, object]:
    """Start one manual run per case of SUM_INPUTS; return each finished run."""
    sums = {}
    for name, field in (("Sum input", None), ("Sum input prices", "price")):
        config = {"items": "trigger.input.items"}
        if field is not None:
            config["field"] = field
        definition = {
            "name": name,
            "trigger": {"type": "manual"},
            "steps": [{"id": "total", "type": "money_total", "config": config}],
        }
        created = post(
            WORKFLOW_CREATE, {"input": {"app": "invoice", "definition": definition}}
        )
        workflow_id = created["data"]["workflowCreate"]["workflow"]["id"]
        cases = SUM_INPUTS if field is None else {"item_not_mapping": [5]}
        for case, items in cases.items():
            started = post(
                RUN_START,
                {"input": {"workflow": workflow_id, "input": {"items": items}}},
            )
            sums[case] = started["data"]["workflowRunStart"]["run"]["id"]
        _finished_runs(post, workflow_id, len(cases))
    return {
        case: post(RUN, {"id": run_id})["data"]["workflowRun"]
        for case, run_id in sums.items()
    }


def _one_step(config: dict[str, object]) -> dict[str, object]:
    return {
        "name": "Broken total",
        "trigger": {"type": "record_created"},
        "steps": [{"id": "total", "type": "money_total", "config": config}],
    }


def _finished_runs(post: Any, workflow_id: str, count: int) -> list[Any]:
    deadline = time.monotonic() + 30
    while True:
        nodes = post(RUNS, {"workflow": workflow_id})["data"]["workflowRuns"]["nodes"]
        done = [n for n in nodes if n["status"] in ("COMPLETED", "FAILED")]
        if len(done) == count:
            return done
        if time.monotonic() > deadline:
            raise AssertionError(f"Runs did not finish in 30 seconds: {nodes}")
        time.sleep(0.05)


async def _stored_prices(runtime: object) -> list[object]:
    store = runtime.store  # type: ignore[attr-defined]
    workspace = await store.get_workspace_by_slug("shop")
    app = await store.get_app_by_slug(workspace.id, "shop-sale")
    page = await store.query_records(app.id, where=None, order=[], first=10, after=None)
    return [record.data["price"] for record in page.items]


if __name__ == "__main__":
    main()
