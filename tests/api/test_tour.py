"""The README tour against real servers: examples/tour.py and `appgraph serve`."""

import asyncio
import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

from api.app import Runtime, create_app
from api.cli import prepare_demo
from api.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
TOUR_SCRIPT = ROOT / "examples" / "tour.py"
APPGRAPH = Path(sys.executable).with_name("appgraph")
PHOTO_SHA256 = "d8b22e66f13a2651071cefb6d8cc39ff526248bee850ed99a630867d7ac1a726"

VIEWER = "{ viewer { workspace { id } } }"
APPS = "{ apps { slug } }"


def load_tour() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tour", TOUR_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Dataclasses look their module up in sys.modules while being created.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


tour = load_tour()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until(
    condition: Callable[[], bool], description: str, timeout: float = 20.0
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out waiting for {description}.")
        time.sleep(0.02)


# The tour against uvicorn in a thread ---------------------------------------


@dataclass
class DemoServer:
    server: Any
    runtime: Runtime


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), development=True)
    token = asyncio.run(prepare_demo(settings))
    app = create_app(settings)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", ws="websockets-sansio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]})
    thread.start()
    try:
        wait_until(lambda: server.started, "uvicorn to start")
        yield DemoServer(
            tour.Server(url=f"http://127.0.0.1:{port}", token=token),
            app.state.runtime,
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


async def change_definition(demo: DemoServer) -> tuple[Any, Any]:
    """Subscribe, add the block once the server listens, return save and change."""
    viewer = await asyncio.to_thread(tour.graphql, demo.server, VIEWER)
    workspace_id = viewer["data"]["viewer"]["workspace"]["id"]
    async with tour.definition_changes(demo.server) as connection:
        # The protocol does not confirm a subscription, so the test waits
        # until the server's event bus has the subscriber before the change.
        await asyncio.to_thread(
            wait_until,
            lambda: demo.runtime.bus.subscriber_count(workspace_id) == 1,
            "the subscription to reach the event bus",
        )
        saved = await asyncio.to_thread(tour.add_block, demo.server)
        change = await asyncio.wait_for(tour.receive_change(connection), 20)
    return saved, change


@pytest.fixture(scope="module")
def steps(demo: DemoServer) -> dict[str, Any]:
    """Run the tour steps in the order the README gives them."""
    results: dict[str, Any] = {}
    results["submit"] = tour.submit(demo.server)
    results["submit_again"] = tour.submit(demo.server)
    results["list"] = tour.list_plots(demo.server)
    results["add_block"], results["change"] = asyncio.run(change_definition(demo))
    results["add_block_again"] = tour.add_block(demo.server)
    results["query_new_field"] = tour.query_new_field(demo.server)
    return results


def test_submit_creates_plot(steps: dict[str, Any]) -> None:
    payload = steps["submit"]["data"]["uclBiomassPlotFormCreate"]
    assert payload["errors"] == []
    assert payload["created"] is True
    assert payload["record"]["plot_id"] == "KIL-017"


def test_submit_stores_gps(steps: dict[str, Any]) -> None:
    record = steps["submit"]["data"]["uclBiomassPlotFormCreate"]["record"]
    assert record["center_point"] == {
        "lat": -7.0412,
        "lng": 37.0081,
        "altitude": 512.0,
        "accuracy": 4.5,
    }


def test_submit_stores_photo_metadata(steps: dict[str, Any]) -> None:
    record = steps["submit"]["data"]["uclBiomassPlotFormCreate"]["record"]
    photo = record["center_image"]
    assert photo["filename"] == "plot-center.jpg"
    assert photo["contentType"] == "image/jpeg"
    assert photo["size"] == tour.PHOTO.stat().st_size
    assert photo["sha256"] == PHOTO_SHA256


def test_submit_stores_trees_and_stems(steps: dict[str, Any]) -> None:
    trees = steps["submit"]["data"]["uclBiomassPlotFormCreate"]["record"]["trees"]
    assert [tree["tag"] for tree in trees] == [1, 2]
    assert trees[0]["latin_name_id"] == "Brachystegia spiciformis"
    assert trees[0]["stems"] == [
        {"cbh": 85, "health_id": "alive"},
        {"cbh": 60, "health_id": "dead"},
    ]
    assert trees[1]["stems"] == [{"cbh": 120, "health_id": "alive"}]


def test_submit_same_key_returns_first(steps: dict[str, Any]) -> None:
    first = steps["submit"]["data"]["uclBiomassPlotFormCreate"]
    again = steps["submit_again"]["data"]["uclBiomassPlotFormCreate"]
    assert again["created"] is False
    assert again["record"]["id"] == first["record"]["id"]


def test_list_filter_returns_plot(steps: dict[str, Any]) -> None:
    records = steps["list"]["data"]["uclBiomassPlotFormRecords"]
    record_id = steps["submit"]["data"]["uclBiomassPlotFormCreate"]["record"]["id"]
    assert records["totalCount"] == 1
    assert [edge["node"]["id"] for edge in records["edges"]] == [record_id]
    assert records["edges"][0]["node"]["disturbance"] == ["grazing", "charcoal_making"]


def test_add_block_saves_version_2(steps: dict[str, Any]) -> None:
    payload = steps["add_block"]["data"]["appDefinitionSave"]
    assert payload["errors"] == []
    assert payload["version"] == {"number": 2}


def test_subscription_receives_new_version(steps: dict[str, Any]) -> None:
    change = steps["change"]["data"]["appDefinitionChanged"]
    assert change["version"] == {
        "number": 2,
        "note": "Record the soil type of each plot",
    }


def test_subscription_diff_lists_added_block(steps: dict[str, Any]) -> None:
    diff = steps["change"]["data"]["appDefinitionChanged"]["diff"]
    assert diff["breaking"] is False
    assert len(diff["changes"]) == 1
    assert diff["changes"][0]["kind"] == "BLOCK_ADDED"
    assert diff["changes"][0]["blockId"] == "soil_type"


def test_add_block_again_saves_nothing(steps: dict[str, Any]) -> None:
    assert steps["add_block_again"] is None


def test_new_field_queryable_without_restart(steps: dict[str, Any]) -> None:
    response = steps["query_new_field"]
    assert "errors" not in response
    edges = response["data"]["uclBiomassPlotFormRecords"]["edges"]
    assert edges == [{"node": {"plot_id": "KIL-017", "soil_type": None}}]


# `appgraph serve --demo --dev`, as `make run` starts it ---------------------


@dataclass
class ServeOutput:
    stdout: str
    stderr: str
    token: str
    graphiql: httpx.Response
    apps: Any
    socket_reply: Any


async def init_with_header(url: str, token: str) -> Any:
    """Open a WebSocket that sends the token as a header, return the first reply."""
    async with connect(
        url,
        subprotocols=[Subprotocol("graphql-transport-ws")],
        additional_headers={"Authorization": f"Bearer {token}"},
    ) as connection:
        await connection.send(json.dumps({"type": "connection_init"}))
        return json.loads(await connection.recv())


def run_serve_demo(data_dir: Path, output_dir: Path) -> ServeOutput:
    """Start `appgraph serve --demo --dev`, query it, stop it with SIGINT."""
    assert APPGRAPH.exists(), f"{APPGRAPH} is missing; install with `make run`."
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [str(APPGRAPH), "--data-dir", str(data_dir), "serve", "--demo"]
    command += ["--dev", "--port", str(port)]
    stdout_path = output_dir / "stdout"
    stderr_path = output_dir / "stderr"
    with stdout_path.open("w") as stdout, stderr_path.open("w") as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, cwd=ROOT)
    try:
        wait_until(
            lambda: process.poll() is not None or responds(f"{base}/healthz"),
            "the server to answer /healthz",
        )
        assert process.poll() is None, stderr_path.read_text()
        token = read_token(stdout_path.read_text())
        graphiql = httpx.get(f"{base}/graphql", headers={"Accept": "text/html"})
        apps = tour.graphql(tour.Server(url=base, token=token), APPS)
        socket_url = f"ws://127.0.0.1:{port}/graphql"
        socket_reply = asyncio.run(init_with_header(socket_url, token))
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return ServeOutput(
        stdout=stdout_path.read_text(),
        stderr=stderr_path.read_text(),
        token=token,
        graphiql=graphiql,
        apps=apps,
        socket_reply=socket_reply,
    )


def responds(url: str) -> bool:
    try:
        return httpx.get(url).status_code == 200
    except httpx.TransportError:
        return False


def read_token(stdout: str) -> str:
    for line in stdout.splitlines():
        if line.startswith("Admin token"):
            return line.rsplit(" ", 1)[1]
    raise AssertionError(f"No admin token in the output: {stdout!r}")


@pytest.fixture(scope="module")
def serve_runs(tmp_path_factory: pytest.TempPathFactory) -> list[ServeOutput]:
    """Start the demo server twice on one data directory."""
    data_dir = tmp_path_factory.mktemp("serve-data")
    return [
        run_serve_demo(data_dir, tmp_path_factory.mktemp("first")),
        run_serve_demo(data_dir, tmp_path_factory.mktemp("second")),
    ]


@pytest.mark.slow
def test_serve_demo_prints_url_and_token(serve_runs: list[ServeOutput]) -> None:
    for run in serve_runs:
        lines = run.stdout.splitlines()
        assert lines[0].startswith("GraphiQL: http://127.0.0.1:")
        assert lines[0].endswith("/graphql")
        assert lines[1].startswith("Admin token")
        assert read_token(run.stdout).startswith("ag_")


@pytest.mark.slow
def test_serve_demo_imports_form_once(serve_runs: list[ServeOutput]) -> None:
    first, second = serve_runs
    assert "Created app" in first.stderr
    assert "ucl-biomass-plot-form" in first.stderr
    assert "Created app" not in second.stderr
    assert second.apps == {"data": {"apps": [{"slug": "ucl-biomass-plot-form"}]}}


@pytest.mark.slow
def test_serve_dev_serves_graphiql(serve_runs: list[ServeOutput]) -> None:
    page = serve_runs[0].graphiql
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<title>appgraph GraphiQL</title>" in page.text


@pytest.mark.slow
def test_serve_dev_log_omits_token(serve_runs: list[ServeOutput]) -> None:
    for run in serve_runs:
        assert run.socket_reply == {"type": "connection_ack"}
        assert run.token not in run.stderr


@pytest.mark.slow
def test_serve_stops_on_sigint(serve_runs: list[ServeOutput]) -> None:
    for run in serve_runs:
        assert "Finished server process" in run.stderr


# Error paths of the tour client ---------------------------------------------


def run_tour_script(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("APPGRAPH_TOKEN", "APPGRAPH_URL")
    }
    environment.update(env)
    return subprocess.run(
        [sys.executable, str(TOUR_SCRIPT), *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )


def test_tour_script_without_token_exits() -> None:
    result = run_tour_script("list")
    assert result.returncode == 1
    assert "APPGRAPH_TOKEN is missing" in result.stderr


def test_tour_script_unreachable_server_exits() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_tour_script("list", APPGRAPH_TOKEN="ag_x", APPGRAPH_URL=url)
    assert result.returncode == 1
    assert f"Cannot reach {url}" in result.stderr
    assert "`make run`" in result.stderr


def test_tour_script_subscribe_unreachable_exits() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_tour_script("subscribe", APPGRAPH_TOKEN="ag_x", APPGRAPH_URL=url)
    assert result.returncode == 1
    assert f"Cannot open a WebSocket to {url}" in result.stderr


def test_tour_script_add_block_twice_says_so(
    demo: DemoServer, steps: dict[str, Any]
) -> None:
    result = run_tour_script(
        "add-block", APPGRAPH_TOKEN=demo.server.token, APPGRAPH_URL=demo.server.url
    )
    assert result.returncode == 0
    assert "already has the soil_type block; nothing to save" in result.stdout


def test_tour_script_bad_token_closes_socket(demo: DemoServer) -> None:
    result = run_tour_script(
        "subscribe", APPGRAPH_TOKEN="ag_invalid", APPGRAPH_URL=demo.server.url
    )
    assert result.returncode == 1
    assert "The server closed the WebSocket" in result.stderr
    assert "4403" in result.stderr


def test_graphql_non_json_error_raises(demo: DemoServer) -> None:
    server = tour.Server(url=f"{demo.server.url}/missing", token=demo.server.token)
    with pytest.raises(tour.TourError, match="returned HTTP 404"):
        tour.graphql(server, VIEWER)


def test_add_block_bad_token_raises(demo: DemoServer) -> None:
    server = tour.Server(url=demo.server.url, token="ag_invalid")
    with pytest.raises(tour.TourError, match="Reading the definition of ucl-biomass"):
        tour.add_block(server)


async def test_subscription_unknown_app_raises(demo: DemoServer) -> None:
    async with tour.definition_changes(demo.server, app="no-such-app") as connection:
        with pytest.raises(tour.TourError, match="The subscription failed: ") as error:
            await asyncio.wait_for(tour.receive_change(connection), 20)
    assert "'message'" in str(error.value)


async def test_subscription_unknown_app_names_app(demo: DemoServer) -> None:
    async with tour.definition_changes(demo.server, app="no-such-app") as connection:
        with pytest.raises(tour.TourError) as error:
            await asyncio.wait_for(tour.receive_change(connection), 20)
    assert "No app 'no-such-app' in this workspace." in str(error.value)


@contextlib.asynccontextmanager
async def protocol_server(
    replies: list[dict[str, Any]], received: list[Any]
) -> AsyncIterator[str]:
    """Serve a WebSocket that sends the next reply after each message it reads."""

    async def handler(connection: ServerConnection) -> None:
        for reply in replies:
            received.append(json.loads(await connection.recv()))
            await connection.send(json.dumps(reply))
        await connection.wait_closed()

    async with serve(
        handler, "127.0.0.1", 0, subprotocols=[Subprotocol("graphql-transport-ws")]
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"http://127.0.0.1:{port}"


async def test_definition_changes_without_ack_raises() -> None:
    received: list[Any] = []
    async with protocol_server([{"type": "connection_error"}], received) as url:
        server = tour.Server(url=url, token="ag_x")
        with pytest.raises(tour.TourError, match="Expected connection_ack, got"):
            async with tour.definition_changes(server):
                pass
    assert received[0]["type"] == "connection_init"


async def test_receive_change_answers_ping_then_complete_raises() -> None:
    replies = [
        {"type": "connection_ack"},
        {"type": "ping"},
        {"id": "1", "type": "complete"},
    ]
    received: list[Any] = []
    async with protocol_server(replies, received) as url:
        server = tour.Server(url=url, token="ag_x")
        async with tour.definition_changes(server) as connection:
            with pytest.raises(tour.TourError, match="completed the subscription"):
                await asyncio.wait_for(tour.receive_change(connection), 10)
    assert [message["type"] for message in received] == [
        "connection_init",
        "subscribe",
        "pong",
    ]
