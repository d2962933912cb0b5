"""E-mail through Django's e-mail backends: one message per recipient, one connection per batch.

Where mail goes: the account's `base_url` when it has one (an EMAIL_URL-style URL such as
smtp://mail.example.org:587?tls=1, with `username`/`secret_key` as the SMTP login), else the
platform's EMAIL_URL settings (mifumo/settings.py; unset in embedded mode, files in
MIFUMO_DATA_DIR/outbox).

SMTP replies, by RFC 5321 §4.2: 5yz is a permanent refusal, 4yz a temporary one.
- a recipient refused with 5yz (550 no such user), or a message refused at DATA with 5yz:
  that message fails, the others go on;
- 4yz anywhere, a refused or broken connection, a timeout: TRANSIENT (the engine retries);
- a login refused (535), STARTTLS or TLS failing, the From address refused with 5yz: ACCOUNT
  (the campaign pauses: every message would meet the same answer);
- the connection breaking after DATA began: the server may have taken the message: UNKNOWN.
A line break in the subject, the sender or the recipient would let a text forge headers: such
a message is refused before it reaches the server (Django's BadHeaderError, mapped the same).
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
from collections.abc import Sequence
from email.utils import make_msgid, parseaddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import BadHeaderError, EmailMessage, get_connection
from django.core.mail.backends import smtp
from django.core.validators import validate_email

from mifumo.delivery.providers.base import (
    DeliveryReport,
    ErrorKind,
    OutgoingMessage,
    Provider,
    ProviderError,
    SendResult,
    register,
)
from mifumo.env import ConfigurationError, parse_email_url

logger = logging.getLogger(__name__)
A, T, U = ErrorKind.ACCOUNT, ErrorKind.TRANSIENT, ErrorKind.UNKNOWN
DJANGO_SMTP = "django.core.mail.backends.smtp.EmailBackend"
_outbox_announced = False


class _DataPhase:
    """Remembers whether DATA began for the current message: a connection that breaks after
    that may have handed the message over; before it, the server discarded the transaction."""

    in_data = False

    def mail(self, *args, **kwargs):
        self.in_data = False
        return super().mail(*args, **kwargs)

    def data(self, msg):
        self.in_data = True
        return super().data(msg)


class _SMTP(_DataPhase, smtplib.SMTP):
    pass


class _SMTPS(_DataPhase, smtplib.SMTP_SSL):
    pass


class EmailBackend(smtp.EmailBackend):
    """Django's SMTP backend, with connections that know whether DATA began."""

    @property
    def connection_class(self):
        return _SMTPS if self.use_ssl else _SMTP


@register
class SmtpProvider(Provider):
    name = "smtp"
    channel = "email"
    max_recipients_per_request = 1

    def send(self, batch: Sequence[OutgoingMessage]) -> list[SendResult]:
        connection = self._connection()
        _open(connection)
        results: list[SendResult] = []
        try:
            for index, message in enumerate(batch):
                try:
                    results.append(_send_one(connection, message))
                except ProviderError as error:
                    if index == 0 and (error.kind != U or len(batch) == 1):
                        raise  # nothing sent yet: the whole batch shares the error
                    return results + _unfinished(batch[index:], error)
        finally:
            _close(connection)
        return results

    def parse_delivery_report(self, request) -> list[DeliveryReport]:
        return []  # SMTP has no delivery reports; bounces arrive by mail, not to a webhook

    def probe(self) -> None:
        connection = self._connection()
        _open(connection)
        _close(connection)

    def _connection(self):
        if self.account.base_url:
            try:
                email = parse_email_url(self.account.base_url, "the SMTP account's URL")
            except ConfigurationError as error:
                raise ProviderError(str(error), code="configuration", kind=A) from None
            kwargs = email.connection_kwargs()
            if self.account.username:
                kwargs["username"] = self.account.username
                kwargs["password"] = self.account.secret_key
            backend = email.backend
        else:
            backend, kwargs = settings.EMAIL_BACKEND, {}
            _announce_outbox()
        if backend == DJANGO_SMTP:
            backend = f"{__name__}.EmailBackend"
        return get_connection(backend, fail_silently=False, **kwargs)


def _announce_outbox() -> None:
    global _outbox_announced
    outbox = getattr(settings, "EMAIL_OUTBOX", None)
    if outbox and not _outbox_announced:
        _outbox_announced = True
        logger.warning(
            "EMAIL_URL is not set: e-mail is written to files in %s, not sent. "
            "Set EMAIL_URL=smtp://user:password@host:587?tls=1 to send it.",
            outbox,
        )


def _open(connection) -> None:
    try:
        connection.open()
    except Exception as error:
        raise _session_error(error) from error


def _close(connection) -> None:
    # The messages are already handed over or refused: QUIT failing changes nothing.
    with contextlib.suppress(OSError):
        connection.close()


def _send_one(connection, message: OutgoingMessage) -> SendResult:
    sender = message.sender or settings.DEFAULT_FROM_EMAIL
    problem = _header_problem(sender, message.to, message.subject)
    if problem:
        return _refused(message, *problem)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    message_id = make_msgid(domain=domain)
    email = EmailMessage(
        subject=message.subject,
        body=message.body,
        from_email=sender,
        to=[message.to],
        headers={"Message-ID": message_id, "X-Mifumo-Message-Id": message.message_id},
        connection=connection,
    )
    try:
        email.send()
    except BadHeaderError as error:
        return _refused(message, "header_injection", f"Refused: {error}")
    except smtplib.SMTPRecipientsRefused as error:
        code, reply = next(iter(error.recipients.values()), (0, b""))
        if 500 <= code < 600:
            return _refused(
                message, str(code), f"The mail server refused the recipient: {_text(reply)}"
            )
        raise ProviderError(
            f"The mail server deferred the recipient: {code} {_text(reply)}", code=str(code), kind=T
        ) from error
    except smtplib.SMTPDataError as error:
        if 500 <= error.smtp_code < 600:
            return _refused(
                message,
                str(error.smtp_code),
                f"The mail server refused the message: {_text(error.smtp_error)}",
            )
        raise _session_error(error) from error
    except OSError as error:  # smtplib's own errors are OSErrors too: the sender refused, a
        # disconnection, a timeout, or a reply that means the session cannot go on.
        if getattr(getattr(connection, "connection", None), "in_data", False):
            raise ProviderError(
                f"The connection broke after the message was handed over: {error}",
                code="no_answer",
                kind=U,
            ) from error
        raise _session_error(error) from error
    return SendResult(message.message_id, True, provider_message_id=message_id)


def _header_problem(sender: str, to: str, subject: str) -> tuple[str, str] | None:
    """(error code, reason) when the message cannot be sent as it is."""
    for name, value in (("subject", subject), ("sender", sender), ("recipient", to)):
        if "\r" in value or "\n" in value:
            reason = f"Refused: the {name} contains a line break, which could forge headers"
            return "header_injection", reason
    for name, address in (("sender", parseaddr(sender)[1]), ("recipient", to)):
        try:
            validate_email(address)
        except ValidationError:
            reason = f"Refused: the {name} address {address!r} is not a valid e-mail address"
            return "invalid_address", reason
    return None


def _session_error(error: Exception) -> ProviderError:
    """An error about the connection or the account, not about one message."""
    code = getattr(error, "smtp_code", 0) or 0
    reply = _text(getattr(error, "smtp_error", b"")) or str(error)
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return ProviderError(
            f"The mail server refused our login: {code} {reply}", code=str(code), kind=A
        )
    if isinstance(error, smtplib.SMTPNotSupportedError | ssl.SSLError):
        return ProviderError(f"TLS with the mail server failed: {reply}", code="tls", kind=A)
    if isinstance(error, smtplib.SMTPSenderRefused) and 500 <= code < 600:
        return ProviderError(
            f"The mail server refused the From address: {code} {reply}", code=str(code), kind=A
        )
    if 500 <= code < 600:
        return ProviderError(f"The mail server refused: {code} {reply}", code=str(code), kind=A)
    if code:
        return ProviderError(f"The mail server deferred: {code} {reply}", code=str(code), kind=T)
    return ProviderError(
        f"Could not talk to the mail server: {type(error).__name__}: {reply}",
        code="connect",
        kind=T,
    )


def _refused(message: OutgoingMessage, code: str, reason: str) -> SendResult:
    return SendResult(message.message_id, False, error_code=code, error_message=reason)


def _unfinished(rest: Sequence[OutgoingMessage], error: ProviderError) -> list[SendResult]:
    unknown = error.kind == U
    first = SendResult(
        rest[0].message_id,
        False,
        error_code=error.code,
        error_message=error.message,
        unknown=unknown,
        retryable=not unknown,
    )
    reason = f"Not sent: an earlier message failed ({error.message})"
    return [first] + [
        SendResult(
            m.message_id, False, error_code="not_attempted", error_message=reason, retryable=True
        )
        for m in rest[1:]
    ]


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
