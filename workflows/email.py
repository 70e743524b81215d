"""Email delivery over SMTP for workflow steps.

The standard library's ``smtplib`` runs in a worker thread
(``asyncio.to_thread``). Speaking SMTP over asyncio streams would mean
writing the reply parser, dot-stuffing, the STARTTLS upgrade and AUTH again,
which ``smtplib`` already implements. The asyncio client aiosmtplib is not a
dependency. One short-lived thread per message is cheap next to the
network round trips, and ``timeout`` bounds every socket operation of it.

Each message gets a Message-ID derived from the step's idempotency key (run id
and step id), so a message sent again after a crash carries the same ID and a
receiving system can drop the copy.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from blocks.errors import AppgraphError
from workflows.secrets import Secret, redact

__all__ = [
    "EmailDeliveryError",
    "EmailResult",
    "InvalidEmailError",
    "OutgoingEmail",
    "SmtpSettings",
    "build_message",
    "make_message_id",
    "send_email",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the SMTP server; ``timeout`` is in seconds per operation.

    ``starttls`` upgrades a plain connection and fails if the server does not
    offer STARTTLS, so a password is never sent in clear text by mistake.
    ``implicit_tls`` opens TLS at once (SMTPS, usually port 465) and takes
    precedence over ``starttls``. ``ssl_context`` defaults to the system's
    trusted certificates.
    """

    host: str
    from_address: str
    port: int = 587
    username: str | None = None
    password: Secret | None = field(default=None, repr=False)
    starttls: bool = True
    implicit_tls: bool = False
    timeout: float = 30.0
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)


@dataclass(frozen=True)
class OutgoingEmail:
    """One message; ``text`` is required, ``html`` adds an alternative part."""

    to: Sequence[str]
    subject: str
    text: str
    html: str | None = None
    cc: Sequence[str] = ()
    bcc: Sequence[str] = ()
    reply_to: str | None = None


@dataclass(frozen=True)
class EmailResult:
    """The accepted message; ``refused`` maps each refused recipient to a reply."""

    message_id: str
    recipients: tuple[str, ...]
    refused: dict[str, str]


class EmailDeliveryError(AppgraphError):
    """Sending failed; ``retryable`` is true when a later attempt may succeed."""

    retryable: bool

    def __init__(
        self, message: str, *, retryable: bool, smtp_code: int | None = None
    ) -> None:
        self.retryable = retryable
        self.smtp_code = smtp_code
        super().__init__(message)


class InvalidEmailError(EmailDeliveryError):
    """An address or header of the message is invalid; nothing was sent."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


def make_message_id(idempotency_key: str, domain: str) -> str:
    """Return the Message-ID for ``idempotency_key``: the same key, the same ID."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:40]
    return f"<{digest}@{domain}>"


def build_message(
    email: OutgoingEmail, settings: SmtpSettings, *, idempotency_key: str
) -> EmailMessage:
    """Build the MIME message, multipart/alternative when ``html`` is given.

    Raises:
        InvalidEmailError: an address is invalid or the subject has a line break.
    """
    sender = _check_address(settings.from_address, "sender")
    if not email.to:
        raise InvalidEmailError("Email has no recipient; set at least one 'to'.")
    for address in [*email.to, *email.cc, *email.bcc]:
        _check_address(address, "recipient")
    if email.reply_to is not None:
        _check_address(email.reply_to, "reply-to")
    if any(c in email.subject for c in "\r\n\0"):
        raise InvalidEmailError("Email subject contains a line break or NUL character.")

    message = EmailMessage()
    message["From"] = settings.from_address
    message["To"] = ", ".join(email.to)
    if email.cc:
        message["Cc"] = ", ".join(email.cc)
    if email.reply_to is not None:
        message["Reply-To"] = email.reply_to
    message["Subject"] = email.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_message_id(idempotency_key, sender.split("@", 1)[1])
    # RFC 3834 header, so auto-responders do not reply to a machine-sent message.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(email.text)
    if email.html is not None:
        message.add_alternative(email.html, subtype="html")
    return message


async def send_email(
    settings: SmtpSettings, email: OutgoingEmail, *, idempotency_key: str
) -> EmailResult:
    """Send ``email`` and return its Message-ID and any refused recipients.

    Raises:
        InvalidEmailError: the message is invalid; nothing was sent.
        EmailDeliveryError: the server could not be reached or rejected the
            login, the sender or every recipient. The message names the
            server and the SMTP code, never the password.
    """
    message = build_message(email, settings, idempotency_key=idempotency_key)
    recipients = tuple(
        _check_address(a, "recipient") for a in [*email.to, *email.cc, *email.bcc]
    )
    message_id = str(message["Message-ID"])

    refused = await asyncio.to_thread(_deliver, settings, message, recipients)
    logger.info(
        "Sent email %s to %d of %d recipients through %s:%d",
        message_id,
        len(recipients) - len(refused),
        len(recipients),
        settings.host,
        settings.port,
    )
    return EmailResult(message_id, recipients, refused)


def _deliver(
    settings: SmtpSettings, message: EmailMessage, recipients: tuple[str, ...]
) -> dict[str, str]:
    try:
        return _send_over_smtp(settings, message, recipients)
    except EmailDeliveryError:
        raise
    except (smtplib.SMTPException, OSError) as error:
        delivery_error = _classify(settings, error)
    # Raised outside the handler, so the original error, whose text may hold
    # what the server echoed, is not chained to it.
    logger.warning("Email %s was not sent: %s", message["Message-ID"], delivery_error)
    raise delivery_error


def _send_over_smtp(
    settings: SmtpSettings, message: EmailMessage, recipients: tuple[str, ...]
) -> dict[str, str]:
    context = settings.ssl_context or ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.implicit_tls:
        smtp = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout, context=context
        )
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)

    with smtp:
        if settings.starttls and not settings.implicit_tls:
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise EmailDeliveryError(
                    f"SMTP server {settings.host}:{settings.port} does not offer "
                    "STARTTLS; enable TLS on the server or turn starttls off.",
                    retryable=False,
                )
            smtp.starttls(context=context)
        if settings.username:
            password = settings.password.reveal() if settings.password else ""
            smtp.login(settings.username, password)
        refused = smtp.send_message(
            message, from_addr=settings.from_address, to_addrs=list(recipients)
        )
    return {
        address: f"{code} {_reply_text(reply)}"
        for address, (code, reply) in refused.items()
    }


def _classify(settings: SmtpSettings, error: BaseException) -> EmailDeliveryError:
    server = f"{settings.host}:{settings.port}"
    code: int | None = None
    if isinstance(error, smtplib.SMTPAuthenticationError):
        code = error.smtp_code
        detail = f"the server rejected the login of user {settings.username!r}"
        retryable = False
    elif isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [c for c, _ in error.recipients.values()]
        code = max(codes) if codes else None
        detail = f"the server refused every recipient ({len(codes)})"
        retryable = all(400 <= c < 500 for c in codes)
    elif isinstance(error, smtplib.SMTPResponseException):
        code = error.smtp_code
        detail = f"the server replied {code} {_reply_text(error.smtp_error)}"
        retryable = 400 <= code < 500
    elif isinstance(error, ssl.SSLCertVerificationError):
        detail = f"its TLS certificate could not be verified ({error.verify_message})"
        retryable = False
    elif isinstance(error, TimeoutError):
        detail = f"the connection timed out after {settings.timeout:g} seconds"
        retryable = True
    else:
        detail = f"{type(error).__name__}: {error}"
        retryable = True

    message = redact(
        f"Sending email through {server} failed: {detail}.", [settings.password]
    )
    return EmailDeliveryError(message, retryable=retryable, smtp_code=code)


def _reply_text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())


def _check_address(value: str, role: str) -> str:
    """Return the bare address of ``value``, which may have a display name."""
    if any(c in value for c in "\r\n\0"):
        raise InvalidEmailError(f"Email {role} address contains a line break.")
    _name, address = parseaddr(value)
    local, at, domain = address.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in address):
        raise InvalidEmailError(
            f"Email {role} address {value!r} is invalid; expected a form like "
            "name@example.com."
        )
    return address
