"""A client for the README tour: submit, list, subscribe, change, query.

Run each step with the server from ``make run`` listening:

    export APPGRAPH_TOKEN=ag_...   # printed by make run
    .venv/bin/python examples/tour.py submit
    .venv/bin/python examples/tour.py list
    .venv/bin/python examples/tour.py subscribe      # in a second terminal
    .venv/bin/python examples/tour.py add-block
    .venv/bin/python examples/tour.py query-new-field

``APPGRAPH_URL`` sets the server (default http://127.0.0.1:8000). Only the
standard library and ``websockets`` are used, so the requests are plain
GraphQL over HTTP and graphql-transport-ws that any client can send.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

APP = "ucl-biomass-plot-form"
PHOTO = Path(__file__).with_name("plot-center.jpg")
DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_KEY = "tour-plot-kil-017"

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


class TourError(Exception):
    """A step failed before the server returned a GraphQL response."""


@dataclass(frozen=True)
class Server:
    """Base URL of an appgraph server and the API token to send to it."""

    url: str
    token: str

    @classmethod
    def from_env(cls) -> Server:
        """Read ``APPGRAPH_URL`` and ``APPGRAPH_TOKEN``."""
        token = os.environ.get("APPGRAPH_TOKEN", "")
        if not token:
            raise TourError(
                "APPGRAPH_TOKEN is missing. Export the admin token that "
                "`make run` printed."
            )
        url = os.environ.get("APPGRAPH_URL", DEFAULT_URL).rstrip("/")
        return cls(url=url, token=token)


def _send(
    server: Server, body: bytes, content_type: str, extra: dict[str, str] | None = None
) -> Any:
    headers = {
        "Authorization": f"Bearer {server.token}",
        "Content-Type": content_type,
        "Accept": "application/graphql-response+json",
        **(extra or {}),
    }
    request = urllib.request.Request(
        f"{server.url}/graphql", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        # GraphQL over HTTP sends request errors (a bad token, an invalid
        # document) as JSON with a 4xx status, so the body is the response.
        text = error.read()
        try:
            return json.loads(text)
        except ValueError:
            raise TourError(
                f"{server.url}/graphql returned HTTP {error.code}: {text[:200]!r}"
            ) from None
    except urllib.error.URLError as error:
        raise TourError(
            f"Cannot reach {server.url}: {error.reason}. Start the server with "
            "`make run`, or set APPGRAPH_URL to where it listens."
        ) from None


def graphql(server: Server, query: str, variables: dict[str, Any] | None = None) -> Any:
    """Send one operation as JSON and return the decoded response."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    return _send(server, body, "application/json")


def graphql_with_file(
    server: Server, query: str, variables: dict[str, Any], path: str, file: Path
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
        server,
        body,
        f"multipart/form-data; boundary={boundary}",
        {"GraphQL-Preflight": "1"},
    )


def submit(server: Server, key: str = DEFAULT_KEY) -> Any:
    """Submit the example plot with its photo.

    The server stores one record per idempotency key, so repeating the step
    with the same key returns the first record with ``created: false``.
    """
    return graphql_with_file(
        server,
        SUBMIT,
        {"data": PLOT, "key": key},
        "variables.data.center_image.upload",
        PHOTO,
    )


def list_plots(server: Server) -> Any:
    """List plots with at least 50 % canopy cover that report grazing."""
    return graphql(server, LIST)


def add_block(server: Server) -> Any | None:
    """Append the soil_type block to the current definition and save it.

    Returns the save response, or None when the definition already has the
    block, so repeating the step does not save an unchanged version.
    """
    response = graphql(server, DEFINITION, {"app": APP})
    if response.get("errors"):
        raise TourError(f"Reading the definition of {APP} failed: {response}")
    current = response["data"]["app"]
    definition = current["definition"]
    if any(block["id"] == SOIL_TYPE["id"] for block in definition["blocks"]):
        return None
    definition["blocks"].append(SOIL_TYPE)
    return graphql(
        server,
        SAVE,
        {"app": APP, "definition": definition, "expected": current["currentVersion"]},
    )


def query_new_field(server: Server) -> Any:
    """Query the soil_type field that ``add_block`` created."""
    return graphql(server, QUERY_NEW_FIELD)


@contextlib.asynccontextmanager
async def definition_changes(
    server: Server, app: str = APP
) -> AsyncIterator[ClientConnection]:
    """Open a WebSocket subscribed to the definition changes of ``app``.

    graphql-transport-ws has no message that confirms a subscription, so the
    server may still be starting it when this context is entered. Read the
    changes with :func:`receive_change`.
    """
    url = "ws" + server.url.removeprefix("http") + "/graphql"
    async with connect(
        url, subprotocols=[Subprotocol("graphql-transport-ws")]
    ) as socket:
        init = {"type": "connection_init", "payload": {"token": server.token}}
        await socket.send(json.dumps(init))
        ack = json.loads(await socket.recv())
        if ack.get("type") != "connection_ack":
            raise TourError(f"Expected connection_ack, got {ack}.")
        subscribe = {
            "id": "1",
            "type": "subscribe",
            "payload": {"query": SUBSCRIBE, "variables": {"app": app}},
        }
        await socket.send(json.dumps(subscribe))
        yield socket


async def receive_change(socket: ClientConnection) -> Any:
    """Wait for the next definition change and return its ``next`` payload."""
    while True:
        message = json.loads(await socket.recv())
        kind = message.get("type")
        if kind == "next":
            return message["payload"]
        if kind == "ping":
            await socket.send(json.dumps({"type": "pong"}))
        elif kind == "error":
            raise TourError(f"The subscription failed: {message['payload']}")
        elif kind == "complete":
            raise TourError("The server completed the subscription.")


async def print_changes(server: Server, count: int | None) -> None:
    """Print definition changes as they arrive, ``count`` of them or forever."""
    try:
        async with definition_changes(server) as socket:
            print(f"Subscribed to definition changes of {APP}.", flush=True)
            received = 0
            while count is None or received < count:
                payload = await receive_change(socket)
                print(json.dumps(payload, indent=2), flush=True)
                received += 1
    except OSError as error:
        raise TourError(
            f"Cannot open a WebSocket to {server.url}: {error}. Start the server "
            "with `make run`, or set APPGRAPH_URL to where it listens."
        ) from None


def run_step(server: Server, step: str, key: str, count: int | None) -> None:
    """Run one tour step and print its result."""
    if step == "subscribe":
        asyncio.run(print_changes(server, count))
        return
    if step == "add-block":
        response = add_block(server)
        if response is None:
            print(f"{APP} already has the soil_type block; nothing to save.")
            return
    elif step == "submit":
        response = submit(server, key)
    elif step == "list":
        response = list_plots(server)
    else:
        response = query_new_field(server)
    print(json.dumps(response, indent=2))


def main() -> None:
    """Parse the command line and run one tour step."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "step", choices=["submit", "list", "subscribe", "add-block", "query-new-field"]
    )
    parser.add_argument(
        "--key", default=DEFAULT_KEY, help="Idempotency key of the submit."
    )
    parser.add_argument(
        "--count", type=int, help="Stop `subscribe` after this many changes."
    )
    args = parser.parse_args()
    try:
        run_step(Server.from_env(), args.step, args.key, args.count)
    except TourError as error:
        sys.exit(str(error))
    except ConnectionClosed as error:
        sys.exit(f"The server closed the WebSocket: {error}")
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
