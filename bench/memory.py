"""Server memory with the demo data and 1,000 open subscriptions.

``appgraph serve --demo`` runs in its own process with a temporary data
directory: the demo workspace with the UCL Biomass Plot Form imported from
XLSForm. The benchmark submits 300 plot records over HTTP, then opens 1,000
``appDefinitionChanged`` subscriptions from a client process and delivers
one definition change to all of them. The server's resident set size (RSS,
read with psutil) is taken idle, with the sockets open, and after the
delivery.

The baseline is a bare uvicorn + Starlette process (hello world plus a
WebSocket route) holding the same 1,000 sockets of the same client process.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]

from bench._common import Result, free_port
from bench._ws import (
    ClientPlan,
    Clients,
    appgraph_server,
    bare_server,
    raise_open_file_limit,
)
from bench.subscriptions import (
    DEFINITION_QUERY,
    DEMO_APP,
    SAVE_MUTATION,
    SETTLE_SECONDS,
    SUBSCRIPTION,
    _relabel,
    graphql,
    measure_rounds,
)

NAME = "memory"
RECORDS = 300
SUBSCRIBERS = 1000
TARGET_MB = 150.0
MB = 2**20

CREATE_RECORD = """
mutation Create($input: RecordCreateInput!) {
  recordCreate(input: $input) { errors { path message } }
}
"""


def plot_record(index: int) -> dict[str, Any]:
    """Return a valid submission of the demo form with three measured trees."""
    return {
        "leader_name": "Aloyce",
        "leader_number": "071 234 5678",
        "region_id": "Pwani",
        "district_id": "Kibaha",
        "village": f"Village {index % 17}",
        "plant_phase": "2024",
        "plot_id": f"P-{index:04d}",
        "canopy_cover": 40 + index % 50,
        "center_point": {"lat": -6.79 + index * 0.0001, "lng": 39.2 + index * 0.0001},
        "monumented": "yes",
        "slope": 5 + index % 20,
        "any_trees": "yes",
        "trees": [
            {
                "tag": index * 10 + tree,
                "latin_name_id": "Acacia nilotica",
                "tree_bearing": 90,
                "tree_distance": 3.5 + tree,
                "stem_count": 1,
                "stems": [{"cbh": 120, "health_id": "alive"}],
            }
            for tree in range(3)
        ],
        "stumps_in_plot": "no",
        "regen_in_subplot1": "no",
        "regen_in_subplot2": "no",
        "disturbance": ["grazing"],
        "remarks": "Measured in the dry season.",
    }


def _rss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / MB


def measure_appgraph(data_dir: Path) -> tuple[dict[str, float], str]:
    """Return the appgraph server's RSS in MB at each stage and the message sent."""
    rss: dict[str, float] = {}
    with appgraph_server(data_dir, free_port()) as server:
        pid = server.process.pid
        rss["started"] = _rss_mb(pid)
        headers = {"Authorization": f"Bearer {server.token}"}
        with httpx.Client(
            base_url=server.base_url, headers=headers, timeout=60
        ) as http:
            for index in range(RECORDS):
                data = graphql(
                    http,
                    CREATE_RECORD,
                    input={"app": DEMO_APP, "data": plot_record(index)},
                )
                errors = data["recordCreate"]["errors"]
                if errors:
                    raise RuntimeError(f"recordCreate failed: {errors}")
            rss["records"] = _rss_mb(pid)
            definition = graphql(http, DEFINITION_QUERY)["app"]["definition"]
            plan = ClientPlan(server.ws_url, server.token, SUBSCRIBERS, SUBSCRIPTION)
            with Clients(plan) as clients:
                time.sleep(SETTLE_SECONDS)
                rss["sockets"] = _rss_mb(pid)

                def save(round_number: int) -> None:
                    graphql(
                        http,
                        SAVE_MUTATION,
                        input={
                            "app": DEMO_APP,
                            "definition": _relabel(definition, round_number),
                        },
                    )

                _, message = measure_rounds(clients, save, 1)
                rss["delivered"] = _rss_mb(pid)
    return rss, message


def measure_baseline(message: str) -> dict[str, float]:
    """Return the bare server's RSS in MB idle, with sockets, after a broadcast."""
    rss: dict[str, float] = {}
    with bare_server(free_port()) as server:
        pid = server.process.pid
        rss["started"] = _rss_mb(pid)
        plan = ClientPlan(server.ws_url, "", SUBSCRIBERS, SUBSCRIPTION)
        with (
            httpx.Client(base_url=server.base_url, timeout=60) as http,
            Clients(plan) as clients,
        ):
            time.sleep(SETTLE_SECONDS)
            rss["sockets"] = _rss_mb(pid)

            def broadcast(_round_number: int) -> None:
                http.post("/broadcast", content=message.encode()).raise_for_status()

            measure_rounds(clients, broadcast, 1)
            rss["delivered"] = _rss_mb(pid)
    return rss


def run() -> Result:
    """Run the benchmark and return its result."""
    result = Result(NAME)
    started = time.perf_counter()
    raise_open_file_limit()
    with tempfile.TemporaryDirectory(prefix="appgraph-bench-") as data_dir:
        appgraph, message = measure_appgraph(Path(data_dir))
    baseline = measure_baseline(message)

    peak = max(appgraph.values())
    result.numbers.update(appgraph_mb=appgraph, baseline_mb=baseline)

    result.add("appgraph: started with the demo app", f"{appgraph['started']:.1f} MB")
    result.add(f"appgraph: after {RECORDS} records", f"{appgraph['records']:.1f} MB")
    result.add(
        f"appgraph: with {SUBSCRIBERS:,} subscriptions", f"{appgraph['sockets']:.1f} MB"
    )
    result.add(
        "appgraph: after one change delivered to all (peak)",
        f"{appgraph['delivered']:.1f} MB",
        f"<= {TARGET_MB:.0f} MB",
        peak <= TARGET_MB,
    )
    result.add(
        "bare uvicorn + Starlette (baseline): started", f"{baseline['started']:.1f} MB"
    )
    result.add(
        f"bare uvicorn + Starlette (baseline): with {SUBSCRIBERS:,} sockets",
        f"{baseline['sockets']:.1f} MB",
    )
    result.add(
        "bare uvicorn + Starlette (baseline): after the same message to all",
        f"{baseline['delivered']:.1f} MB",
    )
    result.add(
        "ratio appgraph / baseline, after delivery",
        f"{appgraph['delivered'] / baseline['delivered']:.1f}",
    )
    result.add(
        "ratio appgraph / baseline, with sockets",
        f"{appgraph['sockets'] / baseline['sockets']:.1f}",
    )
    result.add(
        "per socket: appgraph / baseline",
        f"{(appgraph['sockets'] - appgraph['records']) * 1024 / SUBSCRIBERS:.0f} KB / "
        f"{(baseline['sockets'] - baseline['started']) * 1024 / SUBSCRIBERS:.0f} KB",
    )
    result.notes.append("RSS from psutil, in MiB (2^20 bytes), written MB.")
    result.seconds = time.perf_counter() - started
    return result


__all__ = ["run"]
