from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.workflows.receivers import (
    Certificates,
    SmtpReceiver,
    free_port,
    make_certificates,
)
from workflows.email import (
    EmailDeliveryError,
    InvalidEmailError,
    OutgoingEmail,
    SmtpSettings,
    make_message_id,
    send_email,
)
from workflows.secrets import Secret

PASSWORD = "correct-horse-battery-staple"
SENDER = "Workflows <workflows@example.com>"

EMAIL = OutgoingEmail(
    to=["ada@example.com"],
    cc=["grace@example.com"],
    bcc=["audit@example.com"],
    subject="Order approved",
    text="Your order was approved.",
    html="<p>Your order was <b>approved</b>.</p>",
)


@pytest.fixture
def smtp_server() -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as server:
        yield server


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    created = make_certificates(Path(tmp_path_factory.mktemp("tls")))
    if created is None:
        pytest.skip("the openssl command is not installed")
    return created


def plain_settings(port: int, **changes: object) -> SmtpSettings:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "from_address": SENDER,
        "starttls": False,
        "timeout": 5.0,
    }
    values.update(changes)
    return SmtpSettings(**values)  # type: ignore[arg-type]


async def test_send_multipart_alternative(smtp_server: SmtpReceiver) -> None:
    settings = plain_settings(smtp_server.port)

    result = await send_email(settings, EMAIL, idempotency_key="run-1:notify")

    [mail] = smtp_server.messages
    message = mail.message
    assert mail.mail_from == "workflows@example.com"
    assert mail.recipients == [
        "ada@example.com",
        "grace@example.com",
        "audit@example.com",
    ]
    assert message.get_content_type() == "multipart/alternative"
    text_part = message.get_body(("plain",))
    html_part = message.get_body(("html",))
    assert text_part is not None
    assert html_part is not None
    assert text_part.get_content().rstrip() == "Your order was approved."
    assert html_part.get_content().rstrip() == "<p>Your order was <b>approved</b>.</p>"
    assert message["Subject"] == "Order approved"
    assert message["Cc"] == "grace@example.com"
    assert message["Bcc"] is None
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"] == result.message_id
    assert result.refused == {}


async def test_text_only_message(smtp_server: SmtpReceiver) -> None:
    email = OutgoingEmail(to=["ada@example.com"], subject="Hi", text="Plain")

    await send_email(plain_settings(smtp_server.port), email, idempotency_key="k")

    message = smtp_server.messages[0].message
    assert message.get_content_type() == "text/plain"


async def test_message_id_follows_key(smtp_server: SmtpReceiver) -> None:
    settings = plain_settings(smtp_server.port)

    first = await send_email(settings, EMAIL, idempotency_key="run-1:notify")
    again = await send_email(settings, EMAIL, idempotency_key="run-1:notify")
    other = await send_email(settings, EMAIL, idempotency_key="run-2:notify")

    assert first.message_id == again.message_id
    assert first.message_id != other.message_id
    assert first.message_id == make_message_id("run-1:notify", "example.com")
    assert first.message_id.endswith("@example.com>")
    received = [m.message["Message-ID"] for m in smtp_server.messages]
    assert received == [first.message_id, first.message_id, other.message_id]


async def test_login_succeeds() -> None:
    with SmtpReceiver(credentials=("mailer", PASSWORD)) as server:
        settings = plain_settings(
            server.port, username="mailer", password=Secret(PASSWORD)
        )

        await send_email(settings, EMAIL, idempotency_key="k")

        assert len(server.messages) == 1


async def test_login_failure_hides_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with SmtpReceiver(credentials=("mailer", "other-password")) as server:
        settings = plain_settings(
            server.port, username="mailer", password=Secret(PASSWORD)
        )

        with pytest.raises(EmailDeliveryError) as caught:
            await send_email(settings, EMAIL, idempotency_key="k")

    error = caught.value
    assert str(error) == (
        f"Sending email through 127.0.0.1:{server.port} failed: the server "
        "rejected the login of user 'mailer'."
    )
    assert error.smtp_code == 535
    assert error.retryable is False
    rendered = "".join(traceback.format_exception(error))
    assert PASSWORD not in rendered
    assert PASSWORD not in repr(error)
    assert PASSWORD not in repr(settings)
    assert PASSWORD not in caplog.text
    assert "was not sent: Sending email through" in caplog.text
    assert server.messages == []


async def test_starttls_required_but_missing(smtp_server: SmtpReceiver) -> None:
    settings = plain_settings(smtp_server.port, starttls=True)

    with pytest.raises(EmailDeliveryError) as caught:
        await send_email(settings, EMAIL, idempotency_key="k")

    assert str(caught.value) == (
        f"SMTP server 127.0.0.1:{smtp_server.port} does not offer STARTTLS; "
        "enable TLS on the server or turn starttls off."
    )
    assert caught.value.retryable is False
    assert smtp_server.messages == []


async def test_starttls_then_login(certificates: Certificates) -> None:
    with SmtpReceiver(
        credentials=("mailer", PASSWORD), tls_context=certificates.server_context()
    ) as server:
        settings = plain_settings(
            server.port,
            starttls=True,
            username="mailer",
            password=Secret(PASSWORD),
            ssl_context=certificates.client_context(),
        )

        await send_email(settings, EMAIL, idempotency_key="k")

        assert len(server.messages) == 1


async def test_starttls_untrusted_certificate(certificates: Certificates) -> None:
    with SmtpReceiver(tls_context=certificates.server_context()) as server:
        settings = plain_settings(server.port, starttls=True)

        with pytest.raises(EmailDeliveryError) as caught:
            await send_email(settings, EMAIL, idempotency_key="k")

    assert "its TLS certificate could not be verified" in str(caught.value)
    assert caught.value.retryable is False


async def test_connection_refused_retryable() -> None:
    settings = plain_settings(free_port())

    with pytest.raises(EmailDeliveryError) as caught:
        await send_email(settings, EMAIL, idempotency_key="k")

    assert str(caught.value).startswith(
        f"Sending email through 127.0.0.1:{settings.port} failed: "
        "ConnectionRefusedError: "
    )
    assert caught.value.retryable is True


@pytest.mark.parametrize(
    ("email", "message"),
    [
        (
            OutgoingEmail(to=["not-an-address"], subject="s", text="t"),
            "Email recipient address 'not-an-address' is invalid; expected a form "
            "like name@example.com.",
        ),
        (
            OutgoingEmail(
                to=["a@example.com\r\nBcc: x@evil.test"], subject="s", text="t"
            ),
            "Email recipient address contains a line break.",
        ),
        (
            OutgoingEmail(
                to=["a@example.com"], subject="Hi\r\nBcc: x@evil.test", text="t"
            ),
            "Email subject contains a line break or NUL character.",
        ),
        (
            OutgoingEmail(to=[], subject="s", text="t"),
            "Email has no recipient; set at least one 'to'.",
        ),
        (
            OutgoingEmail(to=["a@example.com"], subject="s", text="t", reply_to="x"),
            "Email reply-to address 'x' is invalid",
        ),
    ],
)
async def test_invalid_message_rejected(
    smtp_server: SmtpReceiver, email: OutgoingEmail, message: str
) -> None:
    with pytest.raises(InvalidEmailError) as caught:
        await send_email(plain_settings(smtp_server.port), email, idempotency_key="k")

    assert str(caught.value).startswith(message)
    assert caught.value.retryable is False
    assert smtp_server.messages == []


async def test_invalid_sender_rejected(smtp_server: SmtpReceiver) -> None:
    settings = plain_settings(smtp_server.port, from_address="nobody")

    with pytest.raises(InvalidEmailError, match="Email sender address 'nobody'"):
        await send_email(settings, EMAIL, idempotency_key="k")


def test_secret_masked() -> None:
    secret = Secret(PASSWORD)

    assert str(secret) == "********"
    assert repr(secret) == "Secret('********')"
    assert secret.reveal() == PASSWORD
