"""The smtp adapter against a real SMTP server (aiosmtpd) on a local port."""

from __future__ import annotations

import email
import email.policy
import socket
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from mifumo.delivery.providers.base import (
    AccountConfig,
    ErrorKind,
    OutgoingMessage,
    ProviderError,
    get_provider_class,
)
from mifumo.env import ConfigurationError, parse_email_url

# The test server takes a login over plain TCP on 127.0.0.1; aiosmtpd warns about that.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MailServer:
    """Records what it accepts; refuses the recipients and messages it is told to."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.refuse: dict[str, str] = {}  # recipient -> SMTP reply
        self.hang_up_in_data = False

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.hang_up_in_data:
            server.transport.close()
            return "250 never read"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append(
            {
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "message": message,
            }
        )
        return "250 Message accepted for delivery"


def accept_only(login: bytes, password: bytes):
    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            login,
            password,
        )
        return AuthResult(success=ok, handled=False)

    return authenticator


@pytest.fixture
def smtp_server():
    handler = MailServer()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.url = f"smtp://127.0.0.1:{controller.port}?timeout=5"
    yield handler
    controller.stop()


@pytest.fixture
def auth_server():
    handler = MailServer()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        auth_require_tls=False,
        auth_required=True,
        authenticator=accept_only(b"mailer", b"right password"),
    )
    controller.start()
    handler.url = f"smtp://127.0.0.1:{controller.port}?timeout=5"
    yield handler
    controller.stop()


def adapter(url: str = "", **account):
    return get_provider_class("smtp")(AccountConfig(provider="smtp", base_url=url, **account))


def outgoing(index: int = 1, **fields) -> OutgoingMessage:
    values = {
        "message_id": f"msg-{index}",
        "to": f"parent{index}@example.org",
        "body": "Mkutano wa wazazi ni Jumamosi saa nne asubuhi.",
        "sender": "Shule ya Upendo <office@shule.example.org>",
        "subject": "Mkutano wa wazazi",
        **fields,
    }
    return OutgoingMessage(**values)


# --- sending ------------------------------------------------------------------------------------


def test_it_sends_subject_body_from_and_to_as_the_server_receives_them(smtp_server):
    [result] = adapter(smtp_server.url).send([outgoing()])

    assert result.accepted and result.message_id == "msg-1"
    [received] = smtp_server.received
    assert received["mail_from"] == "office@shule.example.org"
    assert received["rcpt_tos"] == ["parent1@example.org"]
    message = received["message"]
    assert message["Subject"] == "Mkutano wa wazazi"
    assert message["From"] == "Shule ya Upendo <office@shule.example.org>"
    assert message["To"] == "parent1@example.org"
    assert message.get_content().strip() == "Mkutano wa wazazi ni Jumamosi saa nne asubuhi."
    assert message["Message-ID"] == result.provider_message_id
    assert result.provider_message_id.endswith("@shule.example.org>")
    assert message["X-Mifumo-Message-Id"] == "msg-1"


def test_it_sends_one_message_per_recipient_each_with_its_own_message_id(smtp_server):
    results = adapter(smtp_server.url).send([outgoing(1), outgoing(2), outgoing(3)])

    assert [r.accepted for r in results] == [True, True, True]
    assert [r["rcpt_tos"] for r in smtp_server.received] == [
        ["parent1@example.org"],
        ["parent2@example.org"],
        ["parent3@example.org"],
    ]
    assert len({r.provider_message_id for r in results}) == 3


def test_without_a_sender_it_uses_default_from_email(smtp_server, settings):
    settings.DEFAULT_FROM_EMAIL = "Mifumo <noreply@mifumo.example.org>"

    adapter(smtp_server.url).send([outgoing(sender="")])

    assert smtp_server.received[0]["mail_from"] == "noreply@mifumo.example.org"


def test_non_ascii_text_arrives_intact(smtp_server):
    adapter(smtp_server.url).send([outgoing(subject="Karibu — ada €20", body="Asante sana ✓")])

    message = smtp_server.received[0]["message"]
    assert message["Subject"] == "Karibu — ada €20"
    assert message.get_content().strip() == "Asante sana ✓"


def test_the_account_login_is_used(auth_server):
    [result] = adapter(auth_server.url, username="mailer", secret_key="right password").send(
        [outgoing()]
    )

    assert result.accepted
    assert len(auth_server.received) == 1


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"subject": "Hello\r\nBcc: everyone@example.org"},
        {"subject": "Hello\nX-Injected: 1"},
        {"sender": "Shule\r\nBcc: x@example.org <office@shule.example.org>"},
        {"to": "parent@example.org\r\nBcc: x@example.org"},
    ],
)
def test_a_line_break_in_a_header_is_refused_before_sending(smtp_server, fields):
    [result] = adapter(smtp_server.url).send([outgoing(**fields)])

    assert not result.accepted and not result.retryable
    assert result.error_code == "header_injection"
    assert smtp_server.received == []


def test_an_invalid_address_is_refused_before_sending(smtp_server):
    [result] = adapter(smtp_server.url).send([outgoing(to="not-an-address")])

    assert (result.accepted, result.error_code) == (False, "invalid_address")
    assert smtp_server.received == []


def test_a_550_recipient_refusal_fails_only_that_message(smtp_server):
    smtp_server.refuse["parent2@example.org"] = "550 5.1.1 No such user here"

    results = adapter(smtp_server.url).send([outgoing(1), outgoing(2), outgoing(3)])

    assert [r.accepted for r in results] == [True, False, True]
    assert results[1].error_code == "550" and not results[1].retryable
    assert "No such user" in results[1].error_message
    assert [r["rcpt_tos"] for r in smtp_server.received] == [
        ["parent1@example.org"],
        ["parent3@example.org"],
    ]


def test_a_451_refusal_before_anything_was_sent_is_transient(smtp_server):
    smtp_server.refuse["parent1@example.org"] = "451 4.3.0 Try again later"

    with pytest.raises(ProviderError) as caught:
        adapter(smtp_server.url).send([outgoing(1), outgoing(2)])

    assert (caught.value.kind, caught.value.code) == (ErrorKind.TRANSIENT, "451")
    assert smtp_server.received == []


def test_a_451_refusal_after_a_sent_message_keeps_it_and_retries_the_rest(smtp_server):
    smtp_server.refuse["parent2@example.org"] = "451 4.3.0 Try again later"

    results = adapter(smtp_server.url).send([outgoing(1), outgoing(2), outgoing(3)])

    assert results[0].accepted
    assert [(r.accepted, r.retryable) for r in results[1:]] == [(False, True), (False, True)]
    assert results[2].error_code == "not_attempted"
    assert len(smtp_server.received) == 1


def test_a_server_that_is_down_is_transient():
    with pytest.raises(ProviderError) as caught:
        adapter(f"smtp://127.0.0.1:{free_port()}?timeout=2").send([outgoing()])

    assert (caught.value.kind, caught.value.code) == (ErrorKind.TRANSIENT, "connect")


def test_a_refused_login_is_an_account_error(auth_server):
    with pytest.raises(ProviderError) as caught:
        adapter(auth_server.url, username="mailer", secret_key="wrong").send([outgoing()])

    assert caught.value.kind == ErrorKind.ACCOUNT
    assert caught.value.code == "535"
    assert auth_server.received == []


def test_a_connection_lost_after_data_began_is_unknown(smtp_server):
    smtp_server.hang_up_in_data = True

    with pytest.raises(ProviderError) as caught:
        adapter(smtp_server.url).send([outgoing()])

    assert caught.value.kind == ErrorKind.UNKNOWN


def test_a_bad_account_url_is_an_account_error():
    with pytest.raises(ProviderError) as caught:
        adapter("smtp://:25").send([outgoing()])

    assert caught.value.kind == ErrorKind.ACCOUNT


def test_probe_opens_a_session_or_says_why_not(smtp_server, auth_server):
    adapter(smtp_server.url).probe()

    with pytest.raises(ProviderError) as caught:
        adapter(auth_server.url, username="mailer", secret_key="wrong").probe()
    assert caught.value.kind == ErrorKind.ACCOUNT


# --- the platform's settings ----------------------------------------------------------------


def test_without_an_account_url_it_uses_the_email_settings(mailoutbox):
    [result] = adapter().send([outgoing()])

    assert result.accepted
    [sent] = mailoutbox
    assert (sent.subject, sent.to) == ("Mkutano wa wazazi", ["parent1@example.org"])
    assert sent.extra_headers["Message-ID"] == result.provider_message_id


def test_the_embedded_default_writes_files_to_the_outbox_and_says_so(
    settings, tmp_path, caplog, monkeypatch
):
    outbox = tmp_path / "outbox"
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(outbox)
    settings.EMAIL_OUTBOX = outbox
    monkeypatch.setattr("mifumo.delivery.providers.smtp._outbox_announced", False)

    [result] = adapter().send([outgoing()])

    assert result.accepted
    [written] = list(Path(outbox).iterdir())
    assert "Subject: Mkutano wa wazazi" in written.read_text()
    assert "EMAIL_URL is not set" in caplog.text and str(outbox) in caplog.text


# --- EMAIL_URL --------------------------------------------------------------------------------


def test_smtp_urls_are_read_with_their_login_and_tls():
    parsed = parse_email_url("smtp://mailer:p%40ss%3Aword@mail.example.org?tls=1&timeout=3")

    assert parsed.backend == "django.core.mail.backends.smtp.EmailBackend"
    assert (parsed.host, parsed.port) == ("mail.example.org", 587)
    assert (parsed.username, parsed.password) == ("mailer", "p@ss:word")
    assert (parsed.use_tls, parsed.use_ssl, parsed.timeout) == (True, False, 3.0)
    assert parse_email_url("smtps://mail.example.org").port == 465
    assert parse_email_url("smtp://mail.example.org:2525").port == 2525


def test_other_backends_are_named_by_their_scheme():
    assert parse_email_url("console://").backend.endswith("console.EmailBackend")
    assert parse_email_url("memory://").backend.endswith("locmem.EmailBackend")
    assert parse_email_url("file:///srv/mail").file_path == "/srv/mail"


@pytest.mark.parametrize(
    "url",
    [
        "smtp.example.org",
        "imap://mail.example.org",
        "smtp://",
        "smtp://mail.example.org:notaport",
        "smtp://mail.example.org?tls=maybe",
        "smtps://mail.example.org?tls=1",
        "smtp://mail.example.org?tsl=1",
        "smtp://mail.example.org?timeout=0",
        "file://relative/dir",
    ],
)
def test_a_bad_email_url_fails_loudly(url):
    with pytest.raises(ConfigurationError, match="EMAIL_URL"):
        parse_email_url(url)


def test_a_bad_email_url_error_does_not_show_the_password():
    with pytest.raises(ConfigurationError) as caught:
        parse_email_url("smtp://mailer:hunter2@mail.example.org:bad")

    assert "hunter2" not in str(caught.value)
