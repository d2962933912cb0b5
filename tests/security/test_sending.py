"""What reaches a vendor. E-mail: a subject or sender name carrying CR/LF cannot add headers
or recipients (checked on what a real SMTP server received). SMS pumping: numbers outside
the organisation's countries and premium-rate or satellite numbers never reach the SMS vendor
(a real local HTTP server standing in for Arkesel), whichever route asked for them."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from mifumo.delivery.models import Campaign, CampaignStatus, Message, MessageStatus
from tests.communications.conftest import (  # noqa: F401 (fixtures)
    arkesel,
    arkesel_accepts,
    mail_server,
    send_all,
)
from tests.factories import client_for, create_contact

pytestmark = pytest.mark.django_db

BULK_MESSAGES = "/api/communications/bulk-messages/"
INJECTION = "Taarifa\r\nBcc: victim@evil.example\r\nX-Injected: yes"


def send_email(world, **fields) -> tuple[int, dict]:
    create_contact(world.tenant_a, name="Asha", phone="0712000001", email="asha@a.example")
    response = client_for(world.alice).post(
        BULK_MESSAGES,
        {"custom_recipients": "asha@a.example", "delivery_method": "email",
         "message_body": "Shule itafungwa kesho.", "subject": "Taarifa", **fields},
        format="json",
    )  # fmt: skip
    body = response.json()
    if response.status_code == 201:
        send_all(body["campaign_id"])
    return response.status_code, body


def assert_no_injected_header(mail_server, campaign_id) -> None:  # noqa: F811
    """Either the mail went out with the text kept inside its header, or it was refused
    (failed, with the reason) and nothing left."""
    for mail in mail_server.received:
        assert mail["rcpt_tos"] == ["asha@a.example"]
        message = mail["message"]
        assert message["Bcc"] is None
        assert message["X-Injected"] is None
        for name, value in message.items():
            assert "\n" not in str(value) and "\r" not in str(value), (name, value)
    if not mail_server.received:
        message = Message.objects.get(campaign_id=campaign_id)
        assert message.status == MessageStatus.FAILED
        assert "line break" in message.error_message


def test_a_subject_with_a_line_break_is_refused_up_front(world, mail_server):  # noqa: F811
    status, body = send_email(world, subject=INJECTION)

    assert status == 400, body
    assert "subject" in body["details"]
    assert not mail_server.received
    assert not Message.objects.exists()


def test_a_sender_name_with_a_line_break_adds_no_header_or_recipient(world, mail_server):  # noqa: F811
    # The organisation's name is the From name; an admin can set it to anything.
    world.tenant_a.name = "Shule\r\nBcc: victim@evil.example\r\nX-Injected: yes"
    world.tenant_a.save(update_fields=["name"])

    status, body = send_email(world)

    assert status == 201, body
    assert_no_injected_header(mail_server, body["campaign_id"])


def test_the_same_email_without_line_breaks_is_delivered(world, mail_server):  # noqa: F811
    # The control for the two tests above: the server does receive this route's mail.
    status, body = send_email(world, subject="Taarifa: Bcc victim@evil.example")

    assert status == 201, body
    [mail] = mail_server.received
    assert mail["message"]["Subject"] == "Taarifa: Bcc victim@evil.example"
    assert mail["message"]["From"] == "Shule ya Msingi A <noreply@localhost>"


# --- SMS pumping ---------------------------------------------------------------------------------

ALLOWED = "+255712000001"
BLOCKED = {
    "+254712345678": "outside the organisation's allowed countries",
    "+19005551234": "a premium-rate number (US is allowed, this range is not)",
    "+881612345678": "satellite (Iridium)",
    "+870772001799": "satellite (Inmarsat)",
}


@pytest.fixture
def texting_world(world):
    world.tenant_a.allowed_countries = ["TZ", "US"]
    world.tenant_a.save(update_fields=["allowed_countries"])
    return world


def via_bulk_send(world) -> str:
    response = client_for(world.alice).post(
        "/api/messaging/sms/bulk-send/",
        {"contacts": [{"phone": p} for p in [ALLOWED, *BLOCKED]], "message": "Habari"},
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()["campaign_id"]


def via_bulk_upload(world) -> str:
    rows = "".join(f"{phone},Mzazi,Habari\n" for phone in [ALLOWED, *BLOCKED])
    upload = SimpleUploadedFile("ada.csv", ("phone,name,message\n" + rows).encode())
    response = client_for(world.alice).post(
        "/api/messaging/sms/bulk-upload/", {"file": upload}, format="multipart"
    )
    assert response.status_code == 200, response.content
    return str(Campaign.objects.get(tenant=world.tenant_a).pk)


def via_school_message(world) -> str:
    response = client_for(world.alice).post(
        BULK_MESSAGES,
        {"custom_recipients": ",".join([ALLOWED, *BLOCKED]), "delivery_method": "sms",
         "message_body": "Habari"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    return response.json()["campaign_id"]


def via_retry(world) -> str:
    # Messages that got into a campaign anyway (written before the rules, or by a bug): the
    # engine checks again before each vendor request, and a retry goes through it too.
    campaign = Campaign.objects.create(
        tenant=world.tenant_a, body="Habari", status=CampaignStatus.COMPLETED
    )
    for phone in [ALLOWED, *BLOCKED]:
        Message.objects.create(
            tenant=world.tenant_a, campaign=campaign, to=phone, body="Habari",
            status=MessageStatus.FAILED,
        )  # fmt: skip
    response = client_for(world.alice).post(f"/api/messaging/campaigns/{campaign.pk}/retry/")
    assert response.status_code == 200, response.content
    return str(campaign.pk)


@pytest.mark.parametrize(
    "route", [via_bulk_send, via_bulk_upload, via_school_message, via_retry],
    ids=lambda route: route.__name__,
)  # fmt: skip
def test_blocked_numbers_never_reach_the_vendor(texting_world, arkesel, route):  # noqa: F811
    arkesel_accepts(arkesel, [ALLOWED], times=5)

    campaign_id = route(texting_world)
    send_all(campaign_id)

    reached = set()
    for request in arkesel.requests:
        reached |= {"+" + r.lstrip("+") for r in request.json()["recipients"]}
    assert reached == {ALLOWED}  # the control: the allowed number did go out
    blocked = Message.objects.filter(campaign_id=campaign_id, to__in=BLOCKED)
    assert set(blocked.values_list("status", flat=True)) <= {MessageStatus.FAILED}
