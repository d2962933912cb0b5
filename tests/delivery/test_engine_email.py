"""An e-mail campaign through the engine to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import pytest
from aiosmtpd.controller import Controller

from mifumo.delivery import dispatch, services
from mifumo.delivery.models import Channel
from mifumo.delivery.services import Recipient
from tests.delivery.test_smtp import MailServer, free_port


@pytest.fixture
def mail_server(monkeypatch):
    handler = MailServer()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    # The platform's e-mail account, as `<VENDOR>_BASE_URL` configures every provider.
    monkeypatch.setenv("SMTP_BASE_URL", f"smtp://127.0.0.1:{controller.port}?timeout=5")
    yield handler
    controller.stop()


def test_an_email_campaign_reaches_every_recipient_with_its_subject_and_body(tenant_a, mail_server):
    campaign = services.campaign_accept(
        tenant=tenant_a,
        channel=Channel.EMAIL,
        sender_id="Shule ya Upendo <office@upendo.example>",
        subject="Mkutano wa wazazi",
        recipients=[
            Recipient(to="mama.juma@example.org", body="Karibu Jumamosi saa nne."),
            Recipient(to="baba.amina@example.org", body="Karibu Jumamosi saa nne."),
        ],
    )
    dispatch.dispatch(campaign.pk)

    received = {m["rcpt_tos"][0]: m["message"] for m in mail_server.received}
    assert set(received) == {"mama.juma@example.org", "baba.amina@example.org"}
    for message in received.values():
        assert message["Subject"] == "Mkutano wa wazazi"
        assert message["From"] == "Shule ya Upendo <office@upendo.example>"
        assert message.get_content().strip() == "Karibu Jumamosi saa nne."
    assert services.campaign_counts(campaign.pk) == {"sent": 2}


def test_a_subject_with_a_line_break_never_reaches_the_server(tenant_a, mail_server):
    campaign = services.campaign_accept(
        tenant=tenant_a,
        channel=Channel.EMAIL,
        sender_id="office@upendo.example",
        subject="Hello\r\nBcc: everyone@example.org",
        recipients=[Recipient(to="mama.juma@example.org", body="x")],
    )
    dispatch.dispatch(campaign.pk)
    assert mail_server.received == []
    assert services.campaign_counts(campaign.pk) == {"failed": 1}
