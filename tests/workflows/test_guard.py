from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.workflows.receivers import (
    TLS_HOST,
    Certificates,
    HttpReceiver,
    StaticResolver,
    make_certificates,
)
from workflows.guard import (
    BlockedAddressError,
    ConnectionFailedError,
    GuardedClient,
    GuardPolicy,
    InvalidRequestError,
    NameResolutionError,
    OutgoingRequestError,
    RequestTimeoutError,
    ResponseTooLargeError,
    SystemResolver,
    TlsVerificationError,
    TooManyRedirectsError,
    find_block_reason,
)

LOOPBACK_ONLY = GuardPolicy(allowed_networks=["127.0.0.1/32"])

BLOCKED_ADDRESSES = [
    ("127.0.0.1", "loopback"),
    ("127.0.0.2", "loopback"),
    ("10.1.2.3", "private (RFC 1918)"),
    ("172.16.0.1", "private (RFC 1918)"),
    ("192.168.1.1", "private (RFC 1918)"),
    ("169.254.169.254", "cloud metadata"),
    ("169.254.1.1", "link-local"),
    ("100.64.0.1", "carrier-grade NAT (RFC 6598)"),
    ("100.100.100.200", "cloud metadata"),
    ("224.0.0.1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "reserved"),
    ("192.0.2.10", "documentation"),
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("fc00::1", "unique local (private)"),
    ("fd12:3456::1", "unique local (private)"),
    ("fd00:ec2::254", "cloud metadata"),
    ("fe80::1", "link-local"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "documentation"),
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
    ("::ffff:169.254.169.254", "IPv4-mapped cloud metadata"),
    ("::ffff:10.0.0.1", "IPv4-mapped private (RFC 1918)"),
    ("::127.0.0.1", "IPv4-compatible (deprecated)"),
    ("64:ff9b::7f00:1", "NAT64 embedding of a loopback address"),
    ("64:ff9b::a9fe:a9fe", "NAT64 embedding of a cloud metadata address"),
    ("2002:7f00:1::1", "6to4 embedding of a loopback address"),
    ("2002:c0a8:101::1", "6to4 embedding of a private (RFC 1918) address"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
]

PUBLIC_ADDRESSES = ["93.184.216.34", "2606:2800:220:1::1", "64:ff9b::5db8:d822"]


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as server:
        yield server


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    created = make_certificates(Path(tmp_path_factory.mktemp("tls")))
    if created is None:
        pytest.skip("the openssl command is not installed")
    return created


@pytest.mark.parametrize(("address", "reason"), BLOCKED_ADDRESSES)
def test_block_reason_per_range(address: str, reason: str) -> None:
    assert find_block_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_public_address_not_blocked(address: str) -> None:
    assert find_block_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(("address", "reason"), BLOCKED_ADDRESSES)
async def test_literal_address_rejected(address: str, reason: str) -> None:
    client = GuardedClient(resolver=StaticResolver({}))
    host = f"[{address}]" if ":" in address else address

    with pytest.raises(BlockedAddressError) as caught:
        await client.request("GET", f"http://{host}/latest/meta-data/")

    parsed = ipaddress.ip_address(address)
    expected = reason if reason.endswith(" address") else f"{reason} address"
    assert caught.value.reason == expected
    assert caught.value.address == parsed
    assert f"({parsed}) was blocked: {expected}" in str(caught.value)
    assert caught.value.retryable is False


@pytest.mark.parametrize(("address", "reason"), BLOCKED_ADDRESSES)
async def test_resolved_name_rejected(address: str, reason: str) -> None:
    resolver = StaticResolver({"internal.example.com": [address]})
    client = GuardedClient(resolver=resolver)

    with pytest.raises(BlockedAddressError) as caught:
        await client.request("GET", "https://internal.example.com/admin")

    assert caught.value.host == "internal.example.com"
    expected = reason if reason.endswith(" address") else f"{reason} address"
    assert str(caught.value).startswith("Request to internal.example.com (")
    assert f"was blocked: {expected}." in str(caught.value)
    assert resolver.lookups == ["internal.example.com"]


async def test_any_blocked_answer_rejects_name() -> None:
    resolver = StaticResolver({"mixed.example.com": ["93.184.216.34", "10.0.0.5"]})
    client = GuardedClient(resolver=resolver)

    with pytest.raises(BlockedAddressError, match=r"10\.0\.0\.5"):
        await client.request("GET", "http://mixed.example.com/")


async def test_ipv4_mapped_allowed_network(receiver: HttpReceiver) -> None:
    resolver = StaticResolver({"mapped.test": ["::ffff:127.0.0.1"]})
    client = GuardedClient(LOOPBACK_ONLY, resolver=resolver)

    response = await client.request("GET", f"http://mapped.test:{receiver.port}/x")

    assert response.status_code == 200
    assert response.address == ipaddress.ip_address("127.0.0.1")


async def test_name_connects_to_pinned_address(receiver: HttpReceiver) -> None:
    # "pinned.test" exists in no DNS, so reaching the receiver shows the
    # client connected to the address it checked instead of resolving again.
    resolver = StaticResolver({"pinned.test": ["127.0.0.1"]})
    client = GuardedClient(LOOPBACK_ONLY, resolver=resolver)

    response = await client.request(
        "POST", f"http://pinned.test:{receiver.port}/hook", content=b"{}"
    )

    assert response.status_code == 200
    assert response.json()["received"] is True
    assert resolver.lookups == ["pinned.test"]
    assert receiver.requests[0].headers["host"] == f"pinned.test:{receiver.port}"


async def test_redirect_to_loopback_rejected(receiver: HttpReceiver) -> None:
    client = GuardedClient(LOOPBACK_ONLY, resolver=StaticResolver({}))
    target = f"http://127.0.0.2:{receiver.port}/private"

    with pytest.raises(BlockedAddressError) as caught:
        await client.request("GET", receiver.url(f"/redirect?to={target}"))

    assert "Request to 127.0.0.2 (127.0.0.2) was blocked: loopback address" in str(
        caught.value
    )
    assert [r.path.split("?")[0] for r in receiver.requests] == ["/redirect"]


async def test_redirect_to_metadata_rejected(receiver: HttpReceiver) -> None:
    client = GuardedClient(LOOPBACK_ONLY, resolver=StaticResolver({}))
    target = "http://169.254.169.254/latest/meta-data/"

    with pytest.raises(BlockedAddressError, match="cloud metadata address"):
        await client.request("GET", receiver.url(f"/redirect?to={target}"))


async def test_redirect_to_other_port_rejected(receiver: HttpReceiver) -> None:
    policy = GuardPolicy(
        allowed_networks=["127.0.0.1/32"], allowed_ports=frozenset({receiver.port})
    )
    client = GuardedClient(policy, resolver=StaticResolver({}))
    target = "http://127.0.0.1:1/admin"

    with pytest.raises(BlockedAddressError) as caught:
        await client.request("GET", receiver.url(f"/redirect?to={target}"))

    assert str(caught.value) == (
        "Request to 127.0.0.1 was blocked: port 1 is not allowed. An operator can "
        "allow this destination in the outgoing request policy."
    )


async def test_redirect_followed_and_rewritten(receiver: HttpReceiver) -> None:
    client = GuardedClient(LOOPBACK_ONLY, resolver=StaticResolver({}))
    target = receiver.url("/final")

    response = await client.request(
        "POST",
        receiver.url(f"/redirect?status=303&to={target}"),
        headers={"Content-Type": "application/json", "Idempotency-Key": "k1"},
        content=b'{"a": 1}',
    )

    assert response.status_code == 200
    assert response.url == target
    assert len(response.redirects) == 1
    final = receiver.requests[-1]
    assert final.method == "GET"
    assert final.body == b""
    assert "content-type" not in final.headers
    assert final.headers["idempotency-key"] == "k1"


async def test_cross_origin_redirect_drops_credentials(receiver: HttpReceiver) -> None:
    resolver = StaticResolver({"other.test": ["127.0.0.1"]})
    client = GuardedClient(LOOPBACK_ONLY, resolver=resolver)
    target = f"http://other.test:{receiver.port}/final"

    await client.request(
        "GET",
        receiver.url(f"/redirect?status=307&to={target}"),
        headers={"Authorization": "Bearer s3cret", "X-Api-Key": "k", "Accept": "a/b"},
    )

    first, final = receiver.requests
    assert first.headers["authorization"] == "Bearer s3cret"
    assert "authorization" not in final.headers
    assert "x-api-key" not in final.headers
    assert final.headers["accept"] == "a/b"


async def test_redirect_limit(receiver: HttpReceiver) -> None:
    policy = GuardPolicy(allowed_networks=["127.0.0.1/32"], max_redirects=2)
    client = GuardedClient(policy, resolver=StaticResolver({}))
    url = receiver.url("/final")
    for _ in range(3):
        url = receiver.url(f"/redirect?to={url}")

    with pytest.raises(TooManyRedirectsError) as caught:
        await client.request("GET", url)

    assert str(caught.value) == "Request to 127.0.0.1 was redirected more than 2 times."


@pytest.mark.parametrize("path", ["/bytes/5000", "/chunked/50000", "/gzip/200000"])
async def test_response_size_cap(receiver: HttpReceiver, path: str) -> None:
    policy = GuardPolicy(allowed_networks=["127.0.0.1/32"], max_response_bytes=4096)
    client = GuardedClient(policy, resolver=StaticResolver({}))

    with pytest.raises(ResponseTooLargeError) as caught:
        await client.request("GET", receiver.url(path))

    assert str(caught.value) == (
        "Response of 127.0.0.1 is larger than the limit of 4096 bytes."
    )


async def test_gzip_body_decoded_within_cap(receiver: HttpReceiver) -> None:
    client = GuardedClient(LOOPBACK_ONLY, resolver=StaticResolver({}))

    response = await client.request("GET", receiver.url("/gzip/3000"))

    assert response.content == b"0" * 3000


async def test_total_timeout(receiver: HttpReceiver) -> None:
    policy = GuardPolicy(allowed_networks=["127.0.0.1/32"], timeout=0.3)
    client = GuardedClient(policy, resolver=StaticResolver({}))

    with pytest.raises(RequestTimeoutError) as caught:
        await client.request("GET", receiver.url("/slow"))

    assert str(caught.value) == "Request to 127.0.0.1 timed out after 0.3 seconds."
    assert caught.value.retryable is True


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "ftp://example.com/file",
            "URL scheme 'ftp' is not allowed; use http or https.",
        ),
        ("file:///etc/passwd", "URL scheme 'file' is not allowed; use http or https."),
        ("gopher://example.com/", "URL scheme 'gopher' is not allowed"),
        ("example.com/path", "URL scheme '(none)' is not allowed"),
        (
            "http://user:pass@example.com/",
            "URL for example.com contains a user name or password; "
            "send credentials in a header instead.",
        ),
        ("http://user@example.com/", "contains a user name or password"),
        ("http:///nohost", "URL 'http:///nohost' has no host."),
    ],
)
async def test_invalid_url_rejected(url: str, message: str) -> None:
    resolver = StaticResolver({})
    client = GuardedClient(resolver=resolver)

    with pytest.raises(InvalidRequestError) as caught:
        await client.request("GET", url)

    assert message in str(caught.value)
    assert resolver.lookups == []


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Host": "evil.test"}, "Header 'Host' is set by the client"),
        ({"Content-Length": "1"}, "Header 'Content-Length' is set by the client"),
        ({"X-A": "a\r\nX-B: b"}, "Header 'X-A' is empty or contains a line break"),
    ],
)
async def test_invalid_header_rejected(headers: dict[str, str], message: str) -> None:
    client = GuardedClient(resolver=StaticResolver({}))

    with pytest.raises(InvalidRequestError, match=message):
        await client.request("GET", "http://93.184.216.34/", headers=headers)


async def test_unresolvable_name() -> None:
    client = GuardedClient(resolver=StaticResolver({}))

    with pytest.raises(NameResolutionError) as caught:
        await client.request("GET", "http://missing.test/")

    assert str(caught.value) == "Host name missing.test is not in the table."
    assert caught.value.retryable is True


async def test_connection_refused() -> None:
    client = GuardedClient(LOOPBACK_ONLY, resolver=StaticResolver({}))

    with pytest.raises(ConnectionFailedError) as caught:
        await client.request("GET", "http://127.0.0.1:1/")

    assert str(caught.value).startswith("Could not connect to 127.0.0.1: ")
    assert caught.value.retryable is True


async def test_system_resolver_localhost_blocked() -> None:
    client = GuardedClient(resolver=SystemResolver())

    with pytest.raises(BlockedAddressError, match="loopback address"):
        await client.request("GET", "http://localhost/")


async def test_tls_uses_original_name(certificates: Certificates) -> None:
    resolver = StaticResolver({TLS_HOST: ["127.0.0.1"]})
    policy = GuardPolicy(
        allowed_networks=["127.0.0.1/32"], verify=certificates.client_context()
    )
    client = GuardedClient(policy, resolver=resolver)

    with HttpReceiver(certificates.server_context()) as server:
        response = await client.request("GET", server.url("/text", host=TLS_HOST))

    assert response.status_code == 200
    assert response.text == "plain text answer"
    assert server.requests[0].headers["host"] == f"{TLS_HOST}:{server.port}"


async def test_tls_wrong_name_rejected(certificates: Certificates) -> None:
    resolver = StaticResolver({"other.test": ["127.0.0.1"]})
    policy = GuardPolicy(
        allowed_networks=["127.0.0.1/32"], verify=certificates.client_context()
    )
    client = GuardedClient(policy, resolver=resolver)

    with HttpReceiver(certificates.server_context()) as server:
        with pytest.raises(TlsVerificationError) as caught:
            await client.request("GET", server.url("/text", host="other.test"))

    assert str(caught.value).startswith(
        "TLS certificate of other.test could not be verified: "
    )
    assert caught.value.retryable is False


def test_errors_share_root() -> None:
    for error in (
        BlockedAddressError,
        ResponseTooLargeError,
        RequestTimeoutError,
        InvalidRequestError,
        TlsVerificationError,
    ):
        assert issubclass(error, OutgoingRequestError)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"max_response_bytes": 0}, "max_response_bytes must be positive"),
        ({"timeout": 0}, "timeout must be positive"),
        ({"max_redirects": -1}, "max_redirects must be zero or more"),
    ],
)
def test_policy_rejects_invalid_limits(arguments: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GuardPolicy(**arguments)  # type: ignore[arg-type]


BROAD_POLICY = GuardPolicy(allowed_networks=["0.0.0.0/0", "::/0"])

METADATA_FORMS = [
    ("169.254.169.254", "cloud metadata address"),
    ("169.254.170.2", "cloud metadata address"),
    ("fd00:ec2::254", "cloud metadata address"),
    ("::ffff:169.254.169.254", "IPv4-mapped cloud metadata address"),
    ("64:ff9b::a9fe:a9fe", "NAT64 embedding of a cloud metadata address"),
]


@pytest.mark.parametrize(("address", "reason"), METADATA_FORMS)
async def test_broad_network_keeps_metadata_blocked(address: str, reason: str) -> None:
    client = GuardedClient(BROAD_POLICY, resolver=StaticResolver({}))
    host = f"[{address}]" if ":" in address else address

    with pytest.raises(BlockedAddressError) as caught:
        await client.request("GET", f"http://{host}/latest/meta-data/")

    assert caught.value.reason == reason
    assert f"was blocked: {reason}" in str(caught.value)


@pytest.mark.parametrize(("address", "reason"), METADATA_FORMS)
async def test_broad_network_resolved_metadata_blocked(
    address: str, reason: str
) -> None:
    resolver = StaticResolver({"meta.example.com": [address]})
    client = GuardedClient(BROAD_POLICY, resolver=resolver)

    with pytest.raises(BlockedAddressError) as caught:
        await client.request("GET", "http://meta.example.com/")

    assert caught.value.reason == reason


async def test_broad_network_redirect_to_metadata(receiver: HttpReceiver) -> None:
    client = GuardedClient(BROAD_POLICY, resolver=StaticResolver({}))

    for target in (
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
    ):
        with pytest.raises(BlockedAddressError) as caught:
            await client.request("GET", receiver.url(f"/redirect?to={target}"))
        assert "cloud metadata address" in str(caught.value)

    assert {r.path.split("?")[0] for r in receiver.requests} == {"/redirect"}


def test_exact_network_allows_metadata() -> None:
    policy = GuardPolicy(allowed_networks=["169.254.169.254/32", "fd00:ec2::254/128"])

    assert policy.allows(ipaddress.ip_address("169.254.169.254"))
    assert policy.allows(ipaddress.ip_address("fd00:ec2::254"))
    assert not policy.allows(ipaddress.ip_address("169.254.170.2"))


def test_broad_network_allows_other_ranges() -> None:
    assert BROAD_POLICY.allows(ipaddress.ip_address("10.0.0.1"))
    assert BROAD_POLICY.allows(ipaddress.ip_address("169.254.1.1"))
    assert not BROAD_POLICY.allows(ipaddress.ip_address("169.254.169.254"))
    assert not GuardPolicy(allowed_networks=["169.254.0.0/16"]).allows(
        ipaddress.ip_address("169.254.169.254")
    )


@pytest.mark.parametrize("port", [0, 65536, 99999])
async def test_invalid_port_rejected(port: int) -> None:
    resolver = StaticResolver({})
    client = GuardedClient(LOOPBACK_ONLY, resolver=resolver)

    with pytest.raises(InvalidRequestError) as caught:
        await client.request("GET", f"http://127.0.0.1:{port}/")

    assert str(caught.value) == (
        f"URL for 127.0.0.1 has an invalid port {port}; use a port from 1 to 65535."
    )
    assert caught.value.retryable is False
    assert resolver.lookups == []
