"""Guarded outgoing HTTP requests for destinations that users configure.

Every request whose URL comes from a workflow definition, an SMS provider
setting or an external-API block goes through :class:`GuardedClient`. For
each hop of a request the client:

1. accepts only ``http`` and ``https`` URLs without userinfo;
2. resolves the host name itself, once, and rejects the request if any
   resolved address is blocked. Blocked are loopback, private, link-local,
   carrier-grade NAT, multicast, unspecified, reserved, broadcast and cloud
   metadata addresses, and IPv4 addresses of those kinds embedded in IPv6
   (IPv4-mapped, NAT64, 6to4). An operator can allow networks in the
   :class:`GuardPolicy`;
3. connects to the exact address it checked, while the ``Host`` header, the
   TLS SNI and the certificate check still use the original name, so a
   second DNS answer (DNS rebinding) cannot move the connection;
4. follows redirects itself, checking every new URL the same way, up to
   ``max_redirects``;
5. stops reading the body past ``max_response_bytes`` and gives up when the
   whole exchange, DNS included, takes longer than ``timeout`` seconds.

Errors derive from :class:`OutgoingRequestError`. Each names the URL host and
the reason, and its ``retryable`` attribute tells a workflow step whether
sending the same request again may succeed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import socket
import ssl
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, ClassVar, Protocol

import httpx

from blocks.errors import AppgraphError

__all__ = [
    "BlockedAddressError",
    "ConnectionFailedError",
    "GuardPolicy",
    "GuardedClient",
    "GuardedResponse",
    "IPAddress",
    "InvalidRequestError",
    "NameResolutionError",
    "OutgoingRequestError",
    "RequestTimeoutError",
    "Resolver",
    "ResponseTooLargeError",
    "SystemResolver",
    "TlsVerificationError",
    "TooManyRedirectsError",
    "find_block_reason",
    "is_metadata_address",
    "parse_url",
]

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_SCHEMES = frozenset({"http", "https"})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

# Headers the guard sets itself: a caller-supplied Host would send the
# request to another virtual host than the one that was checked.
FORBIDDEN_REQUEST_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "te", "upgrade"}
)

# Headers kept when a redirect leaves the original origin. Every other header
# the caller set (Authorization, API keys, cookies) may be a credential meant
# only for the first origin, so it is dropped.
CROSS_ORIGIN_SAFE_HEADERS = frozenset(
    {"accept", "accept-language", "user-agent", "idempotency-key"}
)


def _networks(*pairs: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(cidr), reason) for cidr, reason in pairs)


# Checked in order, so the specific metadata addresses come before the wider
# ranges that contain them and name the more useful reason.
BLOCKED_NETWORKS = _networks(
    ("169.254.169.254/32", "cloud metadata"),
    ("169.254.170.2/32", "cloud metadata"),
    ("100.100.100.200/32", "cloud metadata"),
    ("192.0.0.192/32", "cloud metadata"),
    ("fd00:ec2::254/128", "cloud metadata"),
    ("0.0.0.0/8", "unspecified"),
    ("10.0.0.0/8", "private (RFC 1918)"),
    ("100.64.0.0/10", "carrier-grade NAT (RFC 6598)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private (RFC 1918)"),
    ("192.0.0.0/24", "IETF protocol assignment"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "6to4 relay anycast"),
    ("192.168.0.0/16", "private (RFC 1918)"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("240.0.0.0/4", "reserved"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "IPv4-compatible (deprecated)"),
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("100::/64", "discard-only"),
    ("2001::/32", "Teredo"),
    ("2001:db8::/32", "documentation"),
    ("2001::/23", "IETF protocol assignment"),
    ("fc00::/7", "unique local (private)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local (deprecated)"),
    ("ff00::/8", "multicast"),
)

NAT64_NETWORK = ipaddress.IPv6Network("64:ff9b::/96")
METADATA_NETWORKS = tuple(
    network for network, reason in BLOCKED_NETWORKS if reason == "cloud metadata"
)


class OutgoingRequestError(AppgraphError):
    """An outgoing request was rejected or failed; ``host`` is the URL host."""

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, host: str) -> None:
        self.host = host
        super().__init__(message)


class InvalidRequestError(OutgoingRequestError):
    """The URL or a header is not allowed for an outgoing request."""


class BlockedAddressError(OutgoingRequestError):
    """The destination address or port is in a range the policy rejects."""

    def __init__(self, *, host: str, address: IPAddress | None, reason: str) -> None:
        self.address = address
        self.reason = reason
        target = f"{host} ({address})" if address is not None else host
        super().__init__(
            f"Request to {target} was blocked: {reason}. An operator can allow "
            "this destination in the outgoing request policy.",
            host=host,
        )


class NameResolutionError(OutgoingRequestError):
    """The host name did not resolve to any address."""

    retryable = True


class ConnectionFailedError(OutgoingRequestError):
    """Connecting, sending or receiving failed at the network level."""

    retryable = True


class TlsVerificationError(OutgoingRequestError):
    """The server's TLS certificate is not valid for the host name."""


class RequestTimeoutError(OutgoingRequestError):
    """The whole exchange took longer than the policy's timeout."""

    retryable = True


class TooManyRedirectsError(OutgoingRequestError):
    """The server redirected more often than the policy allows."""


class ResponseTooLargeError(OutgoingRequestError):
    """The response body is larger than the policy allows."""


@dataclass(frozen=True)
class GuardPolicy:
    """Limits and exceptions that an operator sets for outgoing requests.

    ``allowed_networks`` lists ranges that are reached even though they are
    blocked by default (for example a company network). ``allowed_ports``,
    when set, is the only set of ports any request may use. ``timeout`` is
    in seconds and covers DNS, every redirect hop and reading the body.
    ``verify`` is passed to httpx: ``True`` uses the certifi bundle, an
    ``ssl.SSLContext`` trusts what it was configured with.
    """

    allowed_networks: Sequence[IPNetwork | str] = ()
    allowed_ports: frozenset[int] | None = None
    max_response_bytes: int = 1024 * 1024
    timeout: float = 10.0
    max_redirects: int = 5
    verify: ssl.SSLContext | bool = True
    networks: tuple[IPNetwork, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        networks = tuple(ipaddress.ip_network(n) for n in self.allowed_networks)
        object.__setattr__(self, "networks", networks)
        if self.max_response_bytes <= 0:
            raise ValueError("max_response_bytes must be positive")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must be zero or more")

    def allows(self, address: IPAddress) -> bool:
        """Return whether an operator allowed the network of ``address``.

        A cloud metadata address, also in an IPv6 form that embeds it, is
        allowed only by a network of exactly that one address (a /32 or
        /128), so a broad network such as 0.0.0.0/0 never exposes the
        instance's credentials.
        """
        if is_metadata_address(address):
            return any(
                network.num_addresses == 1 and network.network_address == address
                for network in self.networks
            )
        return any(address in network for network in self.networks)


def is_metadata_address(address: IPAddress) -> bool:
    """Return whether ``address`` is a cloud metadata address or embeds one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return is_metadata_address(address.ipv4_mapped)
    if any(address in network for network in METADATA_NETWORKS):
        return True
    embedded = _embedded_ipv4(address)
    return embedded is not None and is_metadata_address(embedded[1])


def find_block_reason(address: IPAddress) -> str | None:
    """Return why ``address`` is blocked by default, or None if it is public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        inner = find_block_reason(address.ipv4_mapped)
        return f"IPv4-mapped {inner}" if inner else None

    for network, reason in BLOCKED_NETWORKS:
        if address in network:
            return reason

    embedded = _embedded_ipv4(address)
    if embedded is not None:
        kind, inner_address = embedded
        inner = find_block_reason(inner_address)
        if inner is not None:
            return f"{kind} embedding of a {inner} address"

    if not address.is_global:
        return "not globally routable"
    return None


def _embedded_ipv4(address: IPAddress) -> tuple[str, ipaddress.IPv4Address] | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address in NAT64_NETWORK:
        return "NAT64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return "6to4", address.sixtofour
    return None


def _normalize(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


class Resolver(Protocol):
    """Resolves a host name to the addresses a TCP connection may use."""

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        """Return the addresses of ``host``; raise NameResolutionError if none."""
        ...


class SystemResolver:
    """Resolver that calls the operating system's ``getaddrinfo``."""

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        """Return the addresses of ``host`` in the system's preferred order."""
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except socket.gaierror as error:
            raise NameResolutionError(
                f"Host name {host} could not be resolved: {error.strerror}.",
                host=host,
            ) from None

        addresses: list[IPAddress] = []
        for _family, _type, _proto, _name, sockaddr in infos:
            # A scoped IPv6 address ("fe80::1%eth0") is link-local and blocked.
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
        return addresses


@dataclass(frozen=True)
class GuardedResponse:
    """A fully read response; ``url`` is the final URL after redirects."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    url: str
    address: IPAddress
    redirects: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """Return the body decoded with the charset of its Content-Type."""
        message = Message()
        message["content-type"] = self.headers.get("content-type", "")
        charset = message.get_content_charset() or "utf-8"
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """Return the body parsed as JSON; raise ValueError if it is not JSON."""
        return json.loads(self.content)


@dataclass
class _Hop:
    method: str
    url: httpx.URL
    headers: dict[str, str]
    content: bytes | None


class GuardedClient:
    """HTTP client that applies a :class:`GuardPolicy` to every request.

    The client keeps no connections open between requests, so one instance can be
    shared by concurrent workflow steps.
    """

    def __init__(
        self, policy: GuardPolicy | None = None, *, resolver: Resolver | None = None
    ) -> None:
        self.policy = policy or GuardPolicy()
        self.resolver = resolver or SystemResolver()

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        timeout: float | None = None,
    ) -> GuardedResponse:
        """Send a request and return the response after following redirects.

        ``timeout`` (seconds) can shorten the policy's timeout, never extend it.

        Raises:
            OutgoingRequestError: a subclass saying why the request was
                rejected or failed; it never carries header values.
        """
        parsed = parse_url(url)
        hop = _Hop(
            method.upper(), parsed, _check_headers(headers or {}, parsed), content
        )
        limit = (
            self.policy.timeout
            if timeout is None
            else min(timeout, self.policy.timeout)
        )
        try:
            async with asyncio.timeout(limit):
                return await self._follow(hop)
        except TimeoutError:
            raise RequestTimeoutError(
                f"Request to {_host(parsed)} timed out after {limit:g} seconds.",
                host=_host(parsed),
            ) from None

    async def _follow(self, hop: _Hop) -> GuardedResponse:
        redirects: list[str] = []
        limits = httpx.Limits(max_keepalive_connections=0)
        transport = httpx.AsyncHTTPTransport(
            verify=self.policy.verify, trust_env=False, limits=limits
        )
        async with httpx.AsyncClient(
            transport=transport,
            trust_env=False,
            follow_redirects=False,
            timeout=self.policy.timeout,
        ) as client:
            while True:
                response = await self._send(client, hop, redirects)
                location = response.headers.get("location")
                if response.status_code not in REDIRECT_STATUSES or not location:
                    return response
                if len(redirects) >= self.policy.max_redirects:
                    raise TooManyRedirectsError(
                        f"Request to {_host(hop.url)} was redirected more than "
                        f"{self.policy.max_redirects} times.",
                        host=_host(hop.url),
                    )
                redirects.append(str(hop.url))
                hop = _redirected(hop, response.status_code, location)
                logger.debug("Following redirect to %s", _host(hop.url))

    async def _send(
        self, client: httpx.AsyncClient, hop: _Hop, redirects: list[str]
    ) -> GuardedResponse:
        host = _host(hop.url)
        addresses = await self._checked_addresses(hop.url)
        last_error: httpx.ConnectError | None = None

        # Every address was checked, so trying the next one after a failed
        # connect cannot reach anything the policy rejects.
        for address in addresses:
            try:
                return await self._send_to(client, hop, address, redirects)
            except httpx.ConnectError as error:
                if _is_certificate_error(error):
                    raise TlsVerificationError(
                        f"TLS certificate of {host} could not be verified: {error}.",
                        host=host,
                    ) from None
                last_error = error
            except httpx.TimeoutException:
                raise RequestTimeoutError(
                    f"Request to {host} timed out.", host=host
                ) from None
            except httpx.TransportError as error:
                raise ConnectionFailedError(
                    f"Request to {host} failed: {type(error).__name__}: {error}.",
                    host=host,
                ) from None

        raise ConnectionFailedError(
            f"Could not connect to {host}: {last_error}.", host=host
        ) from None

    async def _send_to(
        self,
        client: httpx.AsyncClient,
        hop: _Hop,
        address: IPAddress,
        redirects: list[str],
    ) -> GuardedResponse:
        headers = dict(hop.headers)
        headers["Host"] = hop.url.netloc.decode("ascii")
        headers.setdefault("Accept-Encoding", "gzip, deflate")
        extensions: dict[str, Any] = {}
        if hop.url.scheme == "https" and not _is_ip_literal(hop.url.host):
            extensions["sni_hostname"] = hop.url.raw_host.decode("ascii")

        pinned = hop.url.copy_with(host=str(address))
        logger.debug("Sending %s to %s at %s", hop.method, _host(hop.url), address)
        async with client.stream(
            hop.method,
            pinned,
            headers=headers,
            content=hop.content,
            extensions=extensions,
        ) as response:
            body = await self._read_body(response, _host(hop.url))

        return GuardedResponse(
            status_code=response.status_code,
            headers=response.headers,
            content=body,
            url=str(hop.url),
            address=address,
            redirects=tuple(redirects),
        )

    async def _read_body(self, response: httpx.Response, host: str) -> bytes:
        limit = self.policy.max_response_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(host, limit)

        # Raw bytes are counted as they arrive, then decoded with the same
        # limit, so neither a long body nor a compression bomb is kept.
        decoder = _BoundedDecoder(response.headers.get("content-encoding", ""), host)
        received = 0
        parts: list[bytes] = []
        async for chunk in response.aiter_raw():
            received += len(chunk)
            if received > limit:
                raise _too_large(host, limit)
            parts.append(decoder.decode(chunk, limit))
        parts.append(decoder.flush(limit))
        return b"".join(parts)

    async def _checked_addresses(self, url: httpx.URL) -> Sequence[IPAddress]:
        host = _host(url)
        port = url.port or (443 if url.scheme == "https" else 80)
        if (
            self.policy.allowed_ports is not None
            and port not in self.policy.allowed_ports
        ):
            raise BlockedAddressError(
                host=host, address=None, reason=f"port {port} is not allowed"
            )

        if _is_ip_literal(url.host):
            addresses: Sequence[IPAddress] = [ipaddress.ip_address(url.host)]
        else:
            addresses = await self.resolver.resolve(url.raw_host.decode("ascii"), port)
        if not addresses:
            raise NameResolutionError(
                f"Host name {host} resolved to no address.", host=host
            )

        checked: list[IPAddress] = []
        for address in addresses:
            # An IPv4-mapped address is reached over IPv4, so the allowed
            # networks and the connection use the IPv4 form.
            reachable = _normalize(address)
            if self.policy.allows(reachable):
                checked.append(reachable)
                continue
            reason = find_block_reason(address)
            if reason is not None:
                # Embedding reasons already end in "... of a loopback address".
                if not reason.endswith(" address"):
                    reason = f"{reason} address"
                raise BlockedAddressError(host=host, address=address, reason=reason)
            checked.append(reachable)
        return checked


class _BoundedDecoder:
    """Decoder of a gzip or deflate body that never outputs more than a limit."""

    def __init__(self, content_encoding: str, host: str) -> None:
        encoding = content_encoding.strip().lower()
        self.host = host
        self.produced = 0
        self.decompressor: Any = None
        if encoding in ("gzip", "x-gzip"):
            self.decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self.decompressor = zlib.decompressobj()
        elif encoding not in ("", "identity"):
            raise ConnectionFailedError(
                f"Response of {host} uses the unsupported content encoding "
                f"{encoding!r}; only gzip and deflate are accepted.",
                host=host,
            )

    def decode(self, data: bytes, limit: int) -> bytes:
        if self.decompressor is None:
            return data
        try:
            output = self.decompressor.decompress(data, limit - self.produced + 1)
        except zlib.error as error:
            raise ConnectionFailedError(
                f"Response of {self.host} has an invalid compressed body: {error}.",
                host=self.host,
            ) from None
        return self._count(output, limit)

    def flush(self, limit: int) -> bytes:
        if self.decompressor is None:
            return b""
        return self._count(self.decompressor.flush(limit - self.produced + 1), limit)

    def _count(self, output: bytes, limit: int) -> bytes:
        self.produced += len(output)
        if self.produced > limit or self.decompressor.unconsumed_tail:
            raise _too_large(self.host, limit)
        return output


def parse_url(url: str) -> httpx.URL:
    """Parse ``url`` and raise InvalidRequestError unless it may be requested."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise InvalidRequestError(
            f"URL {url!r} is invalid: {error}.", host=""
        ) from None

    if parsed.scheme not in ALLOWED_SCHEMES:
        raise InvalidRequestError(
            f"URL scheme {parsed.scheme or '(none)'!r} is not allowed; "
            "use http or https.",
            host=parsed.host,
        )
    if not parsed.host:
        raise InvalidRequestError(f"URL {url!r} has no host.", host="")
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        # httpx accepts any number here, and the connect would fail every time.
        raise InvalidRequestError(
            f"URL for {parsed.host} has an invalid port {parsed.port}; "
            "use a port from 1 to 65535.",
            host=parsed.host,
        )
    if parsed.userinfo:
        raise InvalidRequestError(
            f"URL for {parsed.host} contains a user name or password; "
            "send credentials in a header instead.",
            host=parsed.host,
        )
    return parsed


def _check_headers(headers: Mapping[str, str], url: httpx.URL) -> dict[str, str]:
    for name, value in headers.items():
        if name.lower() in FORBIDDEN_REQUEST_HEADERS:
            raise InvalidRequestError(
                f"Header {name!r} is set by the client and cannot be configured.",
                host=_host(url),
            )
        if any(c in name or c in value for c in "\r\n\0") or not name:
            raise InvalidRequestError(
                f"Header {name!r} is empty or contains a line break or NUL character.",
                host=_host(url),
            )
    return dict(headers)


def _redirected(hop: _Hop, status: int, location: str) -> _Hop:
    try:
        target = hop.url.join(location)
    except httpx.InvalidURL as error:
        raise InvalidRequestError(
            f"Redirect from {_host(hop.url)} has an invalid Location: {error}.",
            host=_host(hop.url),
        ) from None
    target = parse_url(str(target))

    method, content, headers = hop.method, hop.content, dict(hop.headers)
    # Browsers and httpx turn these redirects into GET without a body.
    if (status == 303 and method != "HEAD") or (
        status in (301, 302) and method == "POST"
    ):
        method, content = "GET", None
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    if _origin(target) != _origin(hop.url):
        headers = {
            k: v for k, v in headers.items() if k.lower() in CROSS_ORIGIN_SAFE_HEADERS
        }
    return _Hop(method, target, headers, content)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _host(url: httpx.URL) -> str:
    return url.host


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_certificate_error(error: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(error)


def _too_large(host: str, limit: int) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"Response of {host} is larger than the limit of {limit} bytes.", host=host
    )
