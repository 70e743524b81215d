"""One definition change delivered to 1,000 open subscriptions.

An ``appgraph serve --demo`` process listens on 127.0.0.1 and a client
process opens 1,000 ``graphql-transport-ws`` sockets, each subscribed to
``appDefinitionChanged`` of the demo app. Each round, the benchmark sends an
``appDefinitionSave`` mutation over HTTP that changes one label, and every
client records when its ``next`` message arrived. The latency of a socket is
that time minus the moment just before the mutation was sent, so it
includes the mutation itself, the schema rebuild and the fan-out.

The baseline is a bare Starlette endpoint under the same uvicorn that sends
the same bytes (one ``next`` message captured from appgraph) to 1,000
sockets of the same client process after a ``POST /broadcast``.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench._common import Result, free_port, percentile
from bench._ws import (
    ClientPlan,
    Clients,
    appgraph_server,
    bare_server,
    raise_open_file_limit,
)

NAME = "subscriptions"
SUBSCRIBERS = 1000
ROUNDS = 5
ROUND_TIMEOUT = 30.0
SETTLE_SECONDS = 2.0
TARGET_P99_MS = 100.0
DEMO_APP = "ucl-biomass-plot-form"

SUBSCRIPTION = f"""
subscription {{
  appDefinitionChanged(app: "{DEMO_APP}") {{
    version {{ number note }}
    diff {{ fromVersion toVersion breaking changes {{ kind blockId path breaking }} }}
  }}
}}
"""

DEFINITION_QUERY = f'{{ app(slug: "{DEMO_APP}") {{ definition }} }}'

SAVE_MUTATION = """
mutation Save($input: AppDefinitionSaveInput!) {
  appDefinitionSave(input: $input) { version { number } errors { message } }
}
"""


def graphql(client: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    """Send one GraphQL request and return its data, raising on errors."""
    response = client.post("/graphql", json={"query": query, "variables": variables})
    body: dict[str, Any] = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(
            f"The GraphQL request failed with HTTP {response.status_code}: "
            f"{json.dumps(body)[:500]}"
        )
    data: dict[str, Any] = body["data"]
    return data


def _relabel(definition: dict[str, Any], round_number: int) -> dict[str, Any]:
    """Return ``definition`` with the label of its last top-level block changed."""
    changed: dict[str, Any] = json.loads(json.dumps(definition))
    changed["blocks"][-1]["label"] = {
        "en": f"Remarks, round {round_number}",
        "sw": f"Maoni, mzunguko {round_number}",
    }
    return changed


def measure_rounds(
    clients: Clients, trigger: Callable[[int], None], rounds: int
) -> tuple[list[float], str]:
    """Run ``rounds`` deliveries; return every socket's latency in seconds."""
    latencies: list[float] = []
    sample = ""
    for round_number in range(1, rounds + 1):
        clients.arm(ROUND_TIMEOUT)
        sent = time.monotonic()
        trigger(round_number)
        times, sample, errors = clients.collect(ROUND_TIMEOUT)
        if errors:
            raise RuntimeError(f"A client received an error message: {errors[0]}")
        missing = sum(1 for t in times if t is None)
        if missing:
            raise RuntimeError(
                f"{missing} of {len(times)} sockets received nothing within "
                f"{ROUND_TIMEOUT:.0f} s in round {round_number}."
            )
        latencies.extend(t - sent for t in times if t is not None)
    return latencies, sample


def measure_appgraph(data_dir: Path) -> tuple[list[float], str, float]:
    """Return latencies, one delivered message and the mutation's own time."""
    with appgraph_server(data_dir, free_port()) as server:
        headers = {"Authorization": f"Bearer {server.token}"}
        with httpx.Client(
            base_url=server.base_url, headers=headers, timeout=60
        ) as http:
            definition = graphql(http, DEFINITION_QUERY)["app"]["definition"]
            plan = ClientPlan(server.ws_url, server.token, SUBSCRIBERS, SUBSCRIPTION)
            mutation_seconds: list[float] = []

            def save(round_number: int) -> None:
                started = time.monotonic()
                data = graphql(
                    http,
                    SAVE_MUTATION,
                    input={
                        "app": DEMO_APP,
                        "definition": _relabel(definition, round_number),
                        "note": f"Benchmark round {round_number}",
                    },
                )
                mutation_seconds.append(time.monotonic() - started)
                errors = data["appDefinitionSave"]["errors"]
                if errors:
                    raise RuntimeError(f"appDefinitionSave failed: {errors}")

            with Clients(plan) as clients:
                # Subscriptions start after the socket opens; give them time to
                # reach the event bus before the first change.
                time.sleep(SETTLE_SECONDS)
                latencies, sample = measure_rounds(clients, save, ROUNDS)
    return latencies, sample, sorted(mutation_seconds)[len(mutation_seconds) // 2]


def measure_baseline(message: str) -> list[float]:
    """Return latencies of the bare broadcast of ``message``."""
    with bare_server(free_port()) as server:
        plan = ClientPlan(server.ws_url, "", SUBSCRIBERS, SUBSCRIPTION)
        with httpx.Client(base_url=server.base_url, timeout=60) as http:

            def broadcast(_round_number: int) -> None:
                response = http.post("/broadcast", content=message.encode("utf-8"))
                response.raise_for_status()

            with Clients(plan) as clients:
                time.sleep(SETTLE_SECONDS)
                latencies, _ = measure_rounds(clients, broadcast, ROUNDS)
    return latencies


def run() -> Result:
    """Run the benchmark and return its result."""
    result = Result(NAME)
    started = time.perf_counter()
    raise_open_file_limit()
    with tempfile.TemporaryDirectory(prefix="appgraph-bench-") as data_dir:
        latencies, sample, mutation = measure_appgraph(Path(data_dir))
    baseline = measure_baseline(sample)

    p50 = percentile(latencies, 0.5) * 1000
    p99 = percentile(latencies, 0.99) * 1000
    base_p50 = percentile(baseline, 0.5) * 1000
    base_p99 = percentile(baseline, 0.99) * 1000
    result.numbers.update(
        appgraph_ms={"p50": p50, "p99": p99, "max": max(latencies) * 1000},
        baseline_ms={"p50": base_p50, "p99": base_p99, "max": max(baseline) * 1000},
        mutation_ms=mutation * 1000,
        message_bytes=len(sample.encode("utf-8")),
    )
    result.add("appgraph: p50 latency", f"{p50:.1f} ms")
    result.add(
        "appgraph: p99 latency",
        f"{p99:.1f} ms",
        f"<= {TARGET_P99_MS:.0f} ms",
        p99 <= TARGET_P99_MS,
    )
    result.add("appgraph: mutation response time, median", f"{mutation * 1000:.1f} ms")
    result.add("bare Starlette broadcast (baseline): p50 latency", f"{base_p50:.1f} ms")
    result.add("bare Starlette broadcast (baseline): p99 latency", f"{base_p99:.1f} ms")
    result.add("ratio p50 appgraph / baseline", f"{p50 / base_p50:.1f}")
    result.add("ratio p99 appgraph / baseline", f"{p99 / base_p99:.1f}")
    result.notes.append(
        f"{SUBSCRIBERS} sockets in one client process, {ROUNDS} rounds; "
        f"percentiles over all {len(latencies)} deliveries. Message size "
        f"{len(sample.encode('utf-8'))} bytes."
    )
    result.seconds = time.perf_counter() - started
    return result


__all__ = ["run"]
