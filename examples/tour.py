"""A client for the README tour: submit, list, subscribe, change, query.

Run each step with the server from ``make run`` listening:

    export APPGRAPH_TOKEN=ag_...   # printed by make run
    .venv/bin/python examples/tour.py submit
    .venv/bin/python examples/tour.py list
    .venv/bin/python examples/tour.py subscribe      # in a second terminal
    .venv/bin/python examples/tour.py add-block
    .venv/bin/python examples/tour.py query-new-field

Only the standard library and ``websockets`` are used, so the requests are
plain GraphQL over HTTP and graphql-transport-ws that any client can send.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

APP = "ucl-biomass-plot-form"
PHOTO = Path(__file__).with_name("plot-center.jpg")

SUBMIT = """
mutation SubmitPlot($data: UclBiomassPlotFormData!, $key: String) {
  uclBiomassPlotFormCreate(input: {data: $data, idempotencyKey: $key}) {
    created
    record {
      id
      plot_id
      center_point { lat lng altitude accuracy }
      center_image { filename contentType size sha256 }
      trees { tag latin_name_id tree_distance stems { cbh health_id } }
      disturbance
    }
    errors { path code message }
  }
}
"""

LIST = """
query GrazedPlots {
  uclBiomassPlotFormRecords(
    where: {canopy_cover: {gte: 50}, disturbance: {has: "grazing"}}
    orderBy: [{createdAt: DESC}]
    first: 10
  ) {
    totalCount
    edges { node { id plot_id village canopy_cover disturbance } }
  }
}
"""

SUBSCRIBE = """
subscription DefinitionChanges($app: String!) {
  appDefinitionChanged(app: $app) {
    version { number note }
    diff { breaking changes { kind blockId breaking detail } }
  }
}
"""

DEFINITION = """
query Definition($app: String!) { app(slug: $app) { currentVersion definition } }
"""

SAVE = """
mutation AddBlock($app: String!, $definition: JSON!, $expected: Int) {
  appDefinitionSave(input: {
    app: $app, definition: $definition, expectedVersion: $expected,
    note: "Record the soil type of each plot"
  }) {
    version { number }
    errors { path code message }
  }
}
"""

QUERY_NEW_FIELD = """
query SoilTypes {
  uclBiomassPlotFormRecords(first: 10) { edges { node { plot_id soil_type } } }
}
"""

SOIL_TYPE = {
    "id": "soil_type",
    "type": "select_one",
    "label": {"en": "Soil type", "sw": "Aina ya udongo"},
    "config": {
        "options": [
            {"value": "sandy", "label": {"en": "Sandy", "sw": "Mchanga"}},
            {"value": "clay", "label": {"en": "Clay", "sw": "Mfinyanzi"}},
            {"value": "loam", "label": {"en": "Loam", "sw": "Tifutifu"}},
        ]
    },
}

PLOT = {
    "leader_name": "Aloyce",
    "leader_number": "0712-345-6789",
    "region_id": "Morogoro",
    "district_id": "Kilosa",
    "village": "Ulaya",
    "plant_phase": "2024",
    "plot_id": "KIL-017",
    "canopy_cover": 65,
    "center_point": {"lat": -7.0412, "lng": 37.0081, "altitude": 512, "accuracy": 4.5},
    "center_image": {"upload": None},
    "monumented": "yes",
    "slope": 12,
    "any_trees": "yes",
    "trees": [
        {
            "tag": 1,
            "latin_name_id": "Brachystegia spiciformis",
            "tree_bearing": 45,
            "tree_distance": "7.35",
            "bole_height": "6.2",
            "stem_count": 2,
            "stems": [
                {"cbh": 85, "health_id": "alive", "stem_height": "11.5"},
                {
                    "cbh": 60,
                    "health_id": "dead",
                    "decay_class": "2",
                    "stem_height": "4.0",
                },
            ],
        },
        {
            "tag": 2,
            "latin_name_id": "Julbernardia globiflora",
            "tree_bearing": 130,
            "tree_distance": "4.1",
            "stem_count": 1,
            "stems": [{"cbh": 120, "health_id": "alive"}],
        },
    ],
    "stumps_in_plot": "no",
    "regen_in_subplot1": "no",
    "regen_in_subplot2": "no",
    "disturbance": ["grazing", "charcoal_making"],
    "remarks": "Footpath crosses the north-east corner.",
}


def _base_url() -> str:
    return os.environ.get("APPGRAPH_URL", "http://127.0.0.1:8000").rstrip("/")


def _token() -> str:
    token = os.environ.get("APPGRAPH_TOKEN")
    if not token:
        sys.exit("Set APPGRAPH_TOKEN to the admin token that `make run` printed.")
    return token


def _send(body: bytes, content_type: str, extra: dict[str, str] | None = None) -> Any:
    headers = {
        "Authorization": f"Bearer {_token()}",
        "Content-Type": content_type,
        "Accept": "application/graphql-response+json",
        **(extra or {}),
    }
    request = urllib.request.Request(
        f"{_base_url()}/graphql", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        return json.loads(error.read())


def graphql(query: str, variables: dict[str, Any] | None = None) -> Any:
    """Send one operation as JSON and return the decoded response."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    return _send(body, "application/json")


def graphql_with_file(
    query: str, variables: dict[str, Any], path: str, file: Path
) -> Any:
    """Send one operation as a GraphQL multipart request with one file."""
    boundary = uuid.uuid4().hex
    operations = json.dumps({"query": query, "variables": variables})
    file_map = json.dumps({"0": [path]})
    parts = [
        ("operations", None, "application/json", operations.encode()),
        ("map", None, "application/json", file_map.encode()),
        ("0", file.name, "image/jpeg", file.read_bytes()),
    ]
    body = b""
    for name, filename, media_type, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename:
            disposition += f'; filename="{filename}"'
        body += (
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
            f"Content-Type: {media_type}\r\n\r\n"
        ).encode()
        body += data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    # The preflight header is what lets the server accept a multipart request:
    # a browser cannot add it to a cross-site form post, so it blocks CSRF.
    return _send(
        body,
        f"multipart/form-data; boundary={boundary}",
        {"GraphQL-Preflight": "1"},
    )


def submit(key: str) -> Any:
    """Submit the example plot with its photo."""
    return graphql_with_file(
        SUBMIT,
        {"data": PLOT, "key": key},
        "variables.data.center_image.upload",
        PHOTO,
    )


def add_block() -> Any:
    """Append the soil_type block to the current definition and save it."""
    current = graphql(DEFINITION, {"app": APP})["data"]["app"]
    definition = current["definition"]
    if not any(block["id"] == "soil_type" for block in definition["blocks"]):
        definition["blocks"].append(SOIL_TYPE)
    return graphql(
        SAVE,
        {"app": APP, "definition": definition, "expected": current["currentVersion"]},
    )


async def subscribe(count: int | None) -> None:
    """Print definition changes of the app as they arrive."""
    import websockets

    url = _base_url().replace("http", "ws", 1) + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        init = {"type": "connection_init", "payload": {"token": _token()}}
        await ws.send(json.dumps(init))
        ack = json.loads(await ws.recv())
        if ack["type"] != "connection_ack":
            sys.exit(f"The server did not accept the connection: {ack}")
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIBE, "variables": {"app": APP}},
                }
            )
        )
        print("subscribed", flush=True)
        received = 0
        async for message in ws:
            print(message, flush=True)
            received += 1
            if count is not None and received >= count:
                return


def main() -> None:
    """Run one tour step."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "step", choices=["submit", "list", "subscribe", "add-block", "query-new-field"]
    )
    parser.add_argument(
        "--key", default="tour-plot-kil-017", help="Idempotency key of the submit."
    )
    parser.add_argument(
        "--count", type=int, help="Stop `subscribe` after this many messages."
    )
    args = parser.parse_args()
    if args.step == "subscribe":
        asyncio.run(subscribe(args.count))
        return
    steps = {
        "submit": lambda: submit(args.key),
        "list": lambda: graphql(LIST),
        "add-block": add_block,
        "query-new-field": lambda: graphql(QUERY_NEW_FIELD),
    }
    print(json.dumps(steps[args.step](), indent=2))


if __name__ == "__main__":
    main()
