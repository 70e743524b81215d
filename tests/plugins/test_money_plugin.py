"""The example plugin, installed with pip as a third party would install it."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "plugins" / "appgraph-money"
SCENARIO = Path(__file__).with_name("money_scenario.py")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(PLUGIN),
        ],
        check=True,
        capture_output=True,
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(target), str(ROOT)])
    result = subprocess.run(
        [sys.executable, str(SCENARIO)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_money_in_block_catalogue(scenario: dict[str, Any]) -> None:
    types = {t["name"]: t for t in scenario["catalogue"]["data"]["blockTypes"]}
    assert types["money"]["plugin"] == "money"
    assert types["money"]["valueType"] == "Money"


def test_money_app_created(scenario: dict[str, Any]) -> None:
    payload = scenario["create_app"]["data"]["appCreate"]
    assert payload["errors"] == []
    assert payload["app"]["typeName"] == "ShopSale"


def test_money_value_typed_and_exact(scenario: dict[str, Any]) -> None:
    record = scenario["valid"]["data"]["shopSaleCreate"]["record"]
    assert record["price"] == {"amount": "1500.50", "currency": "TZS"}


def test_money_rejects_unlisted_currency(scenario: dict[str, Any]) -> None:
    errors = scenario["bad_currency"]["data"]["shopSaleCreate"]["errors"]
    assert errors[0]["path"] == ["data", "price", "currency"]
    assert errors[0]["code"] == "UNKNOWN_OPTION"


def test_money_rejects_extra_decimal_places(scenario: dict[str, Any]) -> None:
    errors = scenario["too_precise"]["data"]["shopSaleCreate"]["errors"]
    assert errors[0]["path"] == ["data", "price", "amount"]
    assert "2 decimal places" in errors[0]["message"]


def test_money_filter_on_amount(scenario: dict[str, Any]) -> None:
    edges = scenario["list"]["data"]["shopSaleRecords"]["edges"]
    assert [e["node"]["item"] for e in edges] == ["Maize"]


def test_money_stored_as_exact_strings(scenario: dict[str, Any]) -> None:
    stored = sorted(scenario["stored"], key=lambda p: p["amount"])
    assert stored == [
        {"amount": "12", "currency": "USD"},
        {"amount": "1500.50", "currency": "TZS"},
    ]


# The money_total workflow step ----------------------------------------------


def test_money_total_in_step_catalogue(scenario: dict[str, Any]) -> None:
    types = {t["name"]: t for t in scenario["step_types"]["data"]["stepTypes"]}
    assert types["money_total"]["plugin"] == "money"
    assert types["money_total"]["label"] == "Money total"
    assert types["money_total"]["maxAttempts"] == 1


@pytest.mark.parametrize(
    ("case", "path", "code", "message"),
    [
        (
            "lowercase_currency",
            ["definition", "steps", "0", "config", "currency"],
            "INVALID_CONFIG",
            "Invalid config for a money_total step: 'tzs' does not match '^[A-Z]{3}$'.",
        ),
        (
            "missing_items",
            ["definition", "steps", "0", "config"],
            "INVALID_CONFIG",
            "Invalid config for a money_total step: 'items' is a required property.",
        ),
        (
            "unknown_key",
            ["definition", "steps", "0", "config"],
            "INVALID_CONFIG",
            "Invalid config for a money_total step: Additional properties are not "
            "allowed ('round' was unexpected).",
        ),
        (
            "bad_expression",
            ["definition", "steps", "0", "config", "items"],
            "INVALID_EXPRESSION",
            "Invalid expression 'record.lines +': Expected an expression at "
            "position 14, got end of expression.",
        ),
    ],
)
def test_money_total_rejects_invalid_config(
    scenario: dict[str, Any], case: str, path: list[str], code: str, message: str
) -> None:
    payload = scenario["broken_configs"][case]["data"]["workflowCreate"]
    assert payload["workflow"] is None
    (error,) = payload["errors"]
    assert error["path"] == path
    assert error["code"] == code
    assert error["message"] == message


def test_money_total_runs_after_submission(scenario: dict[str, Any]) -> None:
    assert scenario["create_invoice_app"]["data"]["appCreate"]["errors"] == []
    assert scenario["create_workflow"]["data"]["workflowCreate"]["errors"] == []
    run = scenario["runs"]["one_currency"]
    assert run["status"] == "COMPLETED", run
    assert run["error"] is None
    lines, grand, store = run["steps"]
    assert lines["stepType"] == "money_total"
    assert lines["status"] == "DONE"
    assert lines["output"] == {"amount": "1512.50", "currency": "TZS", "count": 2}
    assert grand["output"] == {"amount": "1532.50", "currency": "TZS", "count": 2}
    assert store["key"] == "store_total"
    assert store["status"] == "DONE"


def test_money_total_output_written_to_record(scenario: dict[str, Any]) -> None:
    record = scenario["records"]["one_currency"]
    assert record["total"] == {"amount": "1532.50", "currency": "TZS"}


def test_money_total_rejects_other_currency(scenario: dict[str, Any]) -> None:
    run = scenario["runs"]["usd_line"]
    assert run["status"] == "FAILED"
    assert run["errorStep"] == "lines_total"
    assert run["error"] == (
        "Step 'lines_total': item 4 is in USD, but the step sums TZS amounts "
        "only. Remove other currencies from the list or change 'currency'."
    )
    (step,) = run["steps"]
    assert step["attempts"] == 1
    assert "total" not in scenario["records"]["usd_line"]


def test_money_total_rejects_mixed_currencies(scenario: dict[str, Any]) -> None:
    run = scenario["runs"]["usd_delivery"]
    assert run["status"] == "FAILED"
    assert run["errorStep"] == "grand_total"
    assert run["error"] == (
        "Step 'grand_total': cannot sum amounts in different currencies: item 1 "
        "is in TZS and item 2 in USD. Convert the amounts to one currency first."
    )
    assert run["steps"][0]["output"]["amount"] == "1512.50"
    assert run["steps"][1]["attempts"] == 1
    assert "total" not in scenario["records"]["usd_delivery"]


@pytest.mark.parametrize(
    ("case", "output"),
    [
        ("null_list", {"amount": "0", "currency": None, "count": 0}),
        ("floats_and_numbers", {"amount": "2.30", "currency": "USD", "count": 3}),
    ],
)
def test_money_total_sums_input_list(
    scenario: dict[str, Any], case: str, output: dict[str, Any]
) -> None:
    run = scenario["sums"][case]
    assert run["status"] == "COMPLETED", run
    assert run["steps"][0]["output"] == output


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("not_a_list", "'items' must give a list, got str '12 TZS'."),
        (
            "not_money",
            'item 2 must be a money value {"amount": ..., "currency": ...}, got 5.',
        ),
        (
            "bad_currency",
            "item 1 has the currency 'TZSH'; expected a three-letter ISO 4217 code.",
        ),
        (
            "missing_currency",
            "item 1 has the currency None; expected a three-letter ISO 4217 code.",
        ),
        (
            "text_amount",
            "item 1 has the amount 'twelve'; expected a finite number or a "
            "decimal string such as '12.50'.",
        ),
        (
            "boolean_amount",
            "item 1 has the amount True; expected a finite number or a decimal "
            "string such as '12.50'.",
        ),
        (
            "infinite_amount",
            "item 1 has the amount 'Infinity'; expected a finite number or a "
            "decimal string such as '12.50'.",
        ),
        (
            "too_many_digits",
            "the total has more than 40 significant digits and cannot be stored "
            "exactly.",
        ),
        (
            "item_not_mapping",
            "item 1 must be a mapping with the key 'price', got int 5.",
        ),
    ],
)
def test_money_total_invalid_items_fail(
    scenario: dict[str, Any], case: str, message: str
) -> None:
    run = scenario["sums"][case]
    assert run["status"] == "FAILED"
    assert run["error"] == f"Step 'total': {message}"
    assert run["steps"][0]["attempts"] == 1
