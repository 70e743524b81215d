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
