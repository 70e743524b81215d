"""Servers and WebSocket clients shared by the subscription and memory benchmarks.

Both servers run in their own process on 127.0.0.1 with uvicorn's
``websockets-sansio`` protocol, as ``appgraph serve`` runs:

- the appgraph server, started as ``python -m api.cli serve --demo`` with a
  temporary data directory;
- a bare Starlette app (``python -m bench._ws PORT``) that speaks just enough
  ``graphql-transport-ws`` to be subscribed to, and sends the body of a
  ``POST /broadcast`` to every subscribed socket.

The clients run in a separate process, so the server's event loop competes
with them only for CPU cores, not for its own loop. Receipt times are taken
with ``time.monotonic()``, which on Linux is one system-wide clock, so the
parent can subtract the moment it sent the trigger.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

SUBPROTOCOL = "graphql-transport-ws"
CONNECT_BATCH = 100
STARTUP_SECONDS = 60.0
OPEN_FILES = 8192


def raise_open_file_limit(wanted: int = OPEN_FILES) -> None:
    """Raise this process's soft open-file limit; child processes inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


# Bare server -------------------------------------------------------------


def bare_app() -> Starlette:
    """Return the baseline app: hello world, a WebSocket route and a broadcast."""
    sockets: list[WebSocket] = []

    async def hello(_request: Request) -> Response:
        return PlainTextResponse("Hello, world!")

    async def broadcast(request: Request) -> Response:
        text = (await request.body()).decode("utf-8")
        for websocket in list(sockets):
            await websocket.send_text(text)
        return PlainTextResponse(str(len(sockets)))

    async def graphql_socket(websocket: WebSocket) -> None:
        await websocket.accept(subprotocol=SUBPROTOCOL)
        try:
            while True:
                message = json.loads(await websocket.receive_text())
                if message.get("type") == "connection_init":
                    await websocket.send_text('{"type":"connection_ack"}')
                elif message.get("type") == "subscribe":
                    sockets.append(websocket)
        except WebSocketDisconnect:
            pass
        finally:
            if websocket in sockets:
                sockets.remove(websocket)

    return Starlette(
        routes=[
            Route("/", hello),
            Route("/broadcast", broadcast, methods=["POST"]),
            WebSocketRoute("/graphql", graphql_socket),
        ]
    )


@dataclass
class Server:
    """A server process started by a benchmark."""

    process: subprocess.Popen[str]
    port: int
    token: str = ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"


def _wait_until_serving(server: Server, path: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"The server on port {server.port} exited with code "
                f"{server.process.returncode} before it served {path}."
            )
        try:
            if httpx.get(server.base_url + path, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(
        f"The server on port {server.port} did not serve {path} within "
        f"{STARTUP_SECONDS:.0f} s."
    )


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def appgraph_server(data_dir: Path, port: int) -> Iterator[Server]:
    """Run ``appgraph serve --demo`` on ``port``; yield it with its admin token."""
    command = [
        sys.executable,
        "-m",
        "api.cli",
        "--data-dir",
        str(data_dir),
        "serve",
        "--demo",
        "--port",
        str(port),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "APPGRAPH_DEV": ""},
    )
    try:
        server = Server(process, port)
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("Admin token"):
                server.token = line.rsplit(" ", 1)[1].strip()
                break
        if not server.token:
            raise RuntimeError("`appgraph serve --demo` printed no admin token.")
        _wait_until_serving(server, "/healthz")
        yield server
    finally:
        _stop(process)


@contextmanager
def bare_server(port: int) -> Iterator[Server]:
    """Run the bare Starlette app on ``port``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench._ws", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        server = Server(process, port)
        _wait_until_serving(server, "/")
        yield server
    finally:
        _stop(process)


# Clients -----------------------------------------------------------------


@dataclass(frozen=True)
class ClientPlan:
    """Sockets of the client process: address, count and operation."""

    url: str
    token: str
    count: int
    subscription: str


async def _open_one(plan: ClientPlan) -> ClientConnection:
    websocket = await connect(
        plan.url,
        subprotocols=[Subprotocol(SUBPROTOCOL)],
        open_timeout=60,
        ping_interval=None,
        max_size=None,
    )
    init = {"type": "connection_init", "payload": {"token": plan.token}}
    await websocket.send(json.dumps(init))
    ack = json.loads(await websocket.recv())
    if ack.get("type") != "connection_ack":
        raise RuntimeError(f"Expected connection_ack, got {ack!r}.")
    subscribe = {
        "id": "1",
        "type": "subscribe",
        "payload": {"query": plan.subscription},
    }
    await websocket.send(json.dumps(subscribe))
    return websocket


class _Receivers:
    """Receive loops of all sockets, recording when each got its message."""

    def __init__(self, sockets: list[ClientConnection]) -> None:
        self.sockets = sockets
        self.times: list[float | None] = [None] * len(sockets)
        self.sample = ""
        self.errors: list[str] = []
        self.received = 0
        self.all_received = asyncio.Event()

    def arm(self) -> None:
        self.times = [None] * len(self.sockets)
        self.received = 0
        self.all_received.clear()

    async def receive(self, index: int) -> None:
        websocket = self.sockets[index]
        async for text in websocket:
            now = time.monotonic()
            assert isinstance(text, str)
            message = json.loads(text)
            if message.get("type") != "next" or "errors" in message.get("payload", {}):
                self.errors.append(text[:300])
                continue
            if self.times[index] is None:
                self.times[index] = now
                self.sample = text
                self.received += 1
                if self.received == len(self.sockets):
                    self.all_received.set()


async def _client_main(plan: ClientPlan, pipe: Connection) -> None:
    sockets: list[ClientConnection] = []
    try:
        for start in range(0, plan.count, CONNECT_BATCH):
            batch = min(CONNECT_BATCH, plan.count - start)
            sockets.extend(
                await asyncio.gather(*(_open_one(plan) for _ in range(batch)))
            )
    except Exception as error:
        pipe.send(("failed", f"{type(error).__name__}: {error}"))
        return
    receivers = _Receivers(sockets)
    tasks = [asyncio.create_task(receivers.receive(i)) for i in range(len(sockets))]
    pipe.send(("open", len(sockets)))
    loop = asyncio.get_running_loop()
    while True:
        command, timeout = await loop.run_in_executor(None, pipe.recv)
        if command == "close":
            break
        receivers.arm()
        pipe.send(("armed", None))
        try:
            await asyncio.wait_for(receivers.all_received.wait(), timeout)
        except TimeoutError:
            pass
        pipe.send(("times", (receivers.times, receivers.sample, receivers.errors)))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    await asyncio.gather(*tasks, return_exceptions=True)


def _client_process(plan: ClientPlan, pipe: Connection) -> None:
    raise_open_file_limit()
    asyncio.run(_client_main(plan, pipe))


class Clients:
    """A process holding ``plan.count`` subscribed sockets, driven by a pipe."""

    def __init__(self, plan: ClientPlan) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(
            target=_client_process, args=(plan, child), daemon=True
        )
        self.plan = plan

    def __enter__(self) -> Clients:
        self._process.start()
        kind, value = self._receive(120)
        if kind != "open":
            raise RuntimeError(f"The client process could not open sockets: {value}")
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._process.is_alive():
            self._pipe.send(("close", 0))
            self._process.join(30)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()

    def _receive(self, timeout: float) -> tuple[str, Any]:
        if not self._pipe.poll(timeout):
            raise RuntimeError(f"The client process sent nothing in {timeout:.0f} s.")
        message: tuple[str, Any] = self._pipe.recv()
        return message

    def arm(self, timeout: float) -> None:
        """Reset the receipt times; the next message on each socket counts."""
        self._pipe.send(("round", timeout))
        kind, _ = self._receive(30)
        if kind != "armed":
            raise RuntimeError(f"Expected the client process to arm, got {kind}.")

    def collect(self, timeout: float) -> tuple[list[float | None], str, list[str]]:
        """Wait for the round to end; return receipt times, a sample, errors."""
        kind, value = self._receive(timeout + 30)
        if kind != "times":
            raise RuntimeError(f"Expected receipt times, got {kind}.")
        times, sample, errors = value
        return times, sample, errors


def main() -> None:
    """Serve the bare app on the port given as the only argument."""
    raise_open_file_limit()
    uvicorn.run(
        bare_app(),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        ws="websockets-sansio",
    )


if __name__ == "__main__":
    main()
