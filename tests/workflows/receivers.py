"""Real servers on 127.0.0.1 that receive what workflow effects send.

``HttpReceiver`` is a threaded HTTP server. Its default route counts requests
per ``Idempotency-Key`` and responds with ``fail_status`` to the first
``fail_first`` requests of each key, then 200 with a JSON body. Other routes
redirect, answer a chosen status, send large or compressed bodies, or stall.
``SmtpReceiver`` is an aiosmtpd server that keeps every message it accepts.
``StaticResolver`` maps host names to addresses without asking any DNS.
``make_certificates`` creates a throwaway CA and a server certificate with the
``openssl`` command.
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import shutil
import socket
import ssl
import subprocess
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from workflows.guard import IPAddress, NameResolutionError

TLS_HOST = "receiver.test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class StaticResolver:
    """Resolver that reads a fixed table; ``lookups`` lists every query."""

    def __init__(self, table: Mapping[str, Sequence[str]]) -> None:
        self.table = {host: list(addresses) for host, addresses in table.items()}
        self.lookups: list[str] = []

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        self.lookups.append(host)
        if host not in self.table:
            raise NameResolutionError(
                f"Host name {host} is not in the table.", host=host
            )
        return [ipaddress.ip_address(a) for a in self.table[host]]


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ReceiverServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = ReceivedRequest(self.command, self.path, headers, body)
        receiver = self.server.receiver
        with receiver.lock:
            receiver.requests.append(request)

        split = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        parts = split.path.strip("/").split("/")
        route = parts[0]
        if route == "redirect":
            status = int(query.get("status", "302"))
            self._send(status, b"", {"Location": query["to"]})
        elif route == "status":
            status = int(parts[1])
            extra = {"Retry-After": "7"} if status in (429, 503) else {}
            self._send_json(status, {"status": status}, extra)
        elif route == "bytes":
            self._send(200, b"x" * int(parts[1]), {"Content-Type": "text/plain"})
        elif route == "chunked":
            self._send_chunked(int(parts[1]))
        elif route == "gzip":
            data = gzip.compress(b"0" * int(parts[1]))
            self._send(200, data, {"Content-Encoding": "gzip"})
        elif route == "text":
            self._send(200, b"plain text answer", {"Content-Type": "text/plain"})
        elif route == "slow":
            receiver.release.wait(10)
            self._send(200, b"late", {})
        else:
            self._answer_counted(request)

    def _answer_counted(self, request: ReceivedRequest) -> None:
        receiver = self.server.receiver
        key = request.headers.get("idempotency-key", "")
        with receiver.lock:
            receiver.counts[key] += 1
            attempt = receiver.counts[key]
        if attempt <= receiver.fail_first:
            self._send_json(receiver.fail_status, {"error": "failing on purpose"})
            return
        echo: Any = None
        if request.body:
            try:
                echo = request.json()
            except ValueError:
                echo = request.body.decode("utf-8", errors="replace")
        self._send_json(200, {"received": True, "attempt": attempt, "echo": echo})

    def _send_json(
        self, status: int, value: Any, extra: Mapping[str, str] | None = None
    ) -> None:
        headers = {"Content-Type": "application/json", "X-Request-Id": "req-1"}
        headers.update(extra or {})
        self._send(status, json.dumps(value).encode(), headers)

    def _send(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _send_chunked(self, size: int) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        chunk = b"y" * 4096
        sent = 0
        try:
            while sent < size:
                part = chunk[: size - sent]
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                sent += len(part)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass


class _ReceiverServer(ThreadingHTTPServer):
    daemon_threads = True
    receiver: HttpReceiver


class HttpReceiver:
    """Threaded HTTP(S) server on 127.0.0.1 that records every request."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.requests: list[ReceivedRequest] = []
        self.counts: Counter[str] = Counter()
        self.fail_first = 0
        self.fail_status = 500
        self.lock = threading.Lock()
        self.release = threading.Event()
        self._server = _ReceiverServer(("127.0.0.1", 0), _Handler)
        self._server.receiver = self
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(
                self._server.socket, server_side=True
            )
        self.port: int = self._server.server_address[1]
        self.scheme = "https" if ssl_context is not None else "http"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@dataclass
class ReceivedMail:
    mail_from: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _MailHandler:
    messages: list[ReceivedMail] = field(default_factory=list)

    async def handle_DATA(
        self, server: SMTPServer, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        self.messages.append(
            ReceivedMail(str(envelope.mail_from), list(envelope.rcpt_tos), content)
        )
        return "250 Message accepted for delivery"


class SmtpReceiver:
    """aiosmtpd server on 127.0.0.1 that keeps the messages it accepts.

    With ``credentials``, AUTH is offered (also without TLS) and only that
    user name and password pass. With ``tls_context``, STARTTLS is offered.
    """

    def __init__(
        self,
        *,
        credentials: tuple[str, str] | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.handler = _MailHandler()
        self.port = free_port()
        parameters: dict[str, Any] = {}
        if credentials is not None:
            parameters["authenticator"] = self._authenticator(credentials)
            parameters["auth_require_tls"] = False
        if tls_context is not None:
            parameters["tls_context"] = tls_context
            parameters["require_starttls"] = True
        self._controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, **parameters
        )

    @property
    def messages(self) -> list[ReceivedMail]:
        return self.handler.messages

    @staticmethod
    def _authenticator(credentials: tuple[str, str]) -> Any:
        def authenticate(
            server: SMTPServer,
            session: Session,
            envelope: Envelope,
            mechanism: str,
            auth_data: Any,
        ) -> AuthResult:
            valid = (
                isinstance(auth_data, LoginPassword)
                and (
                    auth_data.login.decode(),
                    auth_data.password.decode(),
                )
                == credentials
            )
            return AuthResult(success=valid, handled=False)

        return authenticate

    def __enter__(self) -> Self:
        self._controller.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._controller.stop()


@dataclass(frozen=True)
class Certificates:
    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


def make_certificates(directory: Path) -> Certificates | None:
    """Create a CA and a certificate for TLS_HOST and 127.0.0.1.

    Return None if the openssl command is missing.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    ca_key, ca_cert = directory / "ca.key", directory / "ca.pem"
    key, csr, cert = (
        directory / "leaf.key",
        directory / "leaf.csr",
        directory / "leaf.pem",
    )
    extensions = directory / "leaf.ext"
    extensions.write_text(
        f"subjectAltName=DNS:{TLS_HOST},IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    commands = [
        [openssl, "req", "-x509", *ec, "-keyout", ca_key, "-out", ca_cert, "-days", "2",
         "-subj", "/CN=appgraph test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        [openssl, "req", *ec, "-keyout", key, "-out", csr, "-subj", f"/CN={TLS_HOST}"],
        [openssl, "x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key,
         "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", extensions],
    ]  # fmt: skip
    for command in commands:
        subprocess.run([str(part) for part in command], check=True, capture_output=True)
    return Certificates(ca_cert, cert, key)
