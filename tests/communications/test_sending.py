"""Sending through the delivery engine: e-mail to a real SMTP server, SMS to a local stand-in
for Arkesel checked as Arkesel documents its API, the rate limit, the schedule, and how the
message's status follows its campaign."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta
from decimal import Decimal

from django.utils.timezone import now

from mifumo.communications.models import BulkMessage
from mifumo.delivery import dispatch
from mifumo.delivery import services as delivery
from mifumo.delivery.models import Campaign, Message
from mifumo.messaging.models import CampaignCharge
from mifumo.messaging.services.billing import credit_top_up
from tests.communications.conftest import (
    ARKESEL_KEY,
    ARKESEL_SENDER,
    URL,
    arkesel_accepts,
    detail,
    send_all,
)


def create(client, **fields) -> dict:
    response = client.post(URL, fields, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_an_email_reaches_every_address_with_its_subject_and_body(
    alice_client, school, mail_server
):
    created = create(
        alice_client,
        recipient_group="All Students",
        subject="School Closure Announcement",
        message_body="School will be closed tomorrow due to the national holiday.",
        delivery_method="email",
    )
    send_all(created["campaign_id"])

    received = {m["rcpt_tos"][0]: m["message"] for m in mail_server.received}
    assert set(received) == {"asha@students.example", "chausiku@students.example"}
    for message in received.values():
        assert message["Subject"] == "School Closure Announcement"
        assert message["From"] == "Shule ya Msingi A <noreply@localhost>"
        assert message.get_content().strip() == (
            "School will be closed tomorrow due to the national holiday."
        )
    body = alice_client.get(detail(created["id"])).json()
    assert body["status"] == "Sent"
    assert (body["total_recipients"], body["sent_count"], body["failed_count"]) == (2, 2, 0)
    campaign = Campaign.objects.get(pk=created["campaign_id"])
    assert body["sent_time"] == campaign.completed_at.isoformat().replace("+00:00", "Z")


def test_an_email_the_server_refuses_for_everyone_is_failed(alice_client, school, mail_server):
    mail_server.refuse = {
        "asha@students.example": "550 No such user",
        "chausiku@students.example": "550 No such user",
    }
    created = create(
        alice_client,
        recipient_group="All Students",
        subject="Taarifa",
        message_body="Habari",
        delivery_method="email",
    )
    send_all(created["campaign_id"])
    body = alice_client.get(detail(created["id"])).json()
    assert body["status"] == "Failed"
    assert (body["sent_count"], body["failed_count"]) == (0, 2)
    assert body["sent_time"] is not None


def test_an_sms_goes_to_arkesel_as_arkesel_documents_it(alice_client, school, arkesel):
    parents = school.phones("Juma Ally", "Mama Chausiku")
    arkesel_accepts(arkesel, parents)
    created = create(
        alice_client,
        recipient_group="All Parents",
        message_body="Mkutano wa wazazi Jumamosi saa nne asubuhi.",
        delivery_method="sms",
    )
    send_all(created["campaign_id"])

    assert len(arkesel.requests) == 1  # one text, many recipients: one request
    request = arkesel.last
    assert (request.method, request.path) == ("POST", "/api/v2/sms/send")
    assert request.headers["api-key"] == ARKESEL_KEY
    assert request.headers["Content-Type"] == "application/json"
    sent = request.json()
    assert set(sent) == {"sender", "message", "recipients"}
    assert sent["sender"] == ARKESEL_SENDER
    assert sent["message"] == "Mkutano wa wazazi Jumamosi saa nne asubuhi."
    # International format without the plus, as Arkesel's examples write numbers.
    assert sorted(sent["recipients"]) == sorted(p.lstrip("+") for p in parents)
    assert dict(Message.objects.values_list("to", "provider_message_id")) == {
        p: f"ark-{p.lstrip('+')}" for p in parents
    }
    body = alice_client.get(detail(created["id"])).json()
    assert (body["status"], body["sent_count"], body["failed_count"]) == ("Sent", 2, 0)


def test_a_partly_failed_sms_is_sent_with_the_failures_counted(alice_client, school, arkesel):
    juma, mama = school.phone("Juma Ally"), school.phone("Mama Chausiku")
    arkesel.reply(
        json={
            "status": "success",
            "data": [
                {"recipient": juma.lstrip("+"), "id": "ark-1"},
                {"invalid numbers": [mama.lstrip("+")]},
            ],
        }
    )
    created = create(
        alice_client, recipient_group="All Parents", message_body="Ada", delivery_method="sms"
    )
    send_all(created["campaign_id"])
    body = alice_client.get(detail(created["id"])).json()
    assert (body["status"], body["sent_count"], body["failed_count"]) == ("Sent", 1, 1)
    assert Message.objects.get(to=mama).error_code == "invalid_number"


def test_an_sms_arkesel_refuses_is_failed(alice_client, school, arkesel):
    arkesel.reply(422, json={"message": "The sender field is invalid."})
    created = create(
        alice_client, recipient_group="All Parents", message_body="Ada", delivery_method="sms"
    )
    send_all(created["campaign_id"])
    body = alice_client.get(detail(created["id"])).json()
    assert (body["status"], body["sent_count"], body["failed_count"]) == ("Failed", 0, 2)
    assert body["sent_time"] is not None
    assert alice_client.get(URL + "?status=Failed").json()[0]["id"] == created["id"]


def test_the_rate_limit_spaces_messages_at_the_vendor(alice_client, school, arkesel, monkeypatch):
    """ARKESEL_RATE_LIMIT=100/m in production; 60/m here keeps the test short. Each request
    then carries one message and the next waits its turn: never more than the limit."""
    monkeypatch.setenv("ARKESEL_RATE_LIMIT", "60/m")
    students = school.phones("Asha Juma", "Baraka Juma", "Chausiku Ally")
    to = students | {"+255765111222"}
    arkesel_accepts(arkesel, to, times=4)
    created = create(
        alice_client,
        recipient_group="All Students",
        custom_recipients="+255765111222",
        message_body="Mitihani inaanza Jumatatu",
        delivery_method="sms",
    )
    send_all(created["campaign_id"])

    assert [len(r.json()["recipients"]) for r in arkesel.requests] == [1, 1, 1, 1]
    assert {r.json()["recipients"][0] for r in arkesel.requests} == {p.lstrip("+") for p in to}
    gaps = [b - a for a, b in itertools.pairwise(arkesel.requests.times)]
    # One message a second (plus the limiter's 2% margin), measured where the vendor is.
    assert min(gaps) >= 0.95, gaps
    assert alice_client.get(detail(created["id"])).json()["status"] == "Sent"


def test_a_scheduled_message_is_released_by_the_scheduler_at_its_time(
    alice_client, school, arkesel, monkeypatch
):
    queued = []
    monkeypatch.setattr(delivery, "_queue_dispatch", queued.append)
    at = now() + timedelta(seconds=1.5)
    created = create(
        alice_client,
        recipient_group="Parents of Form 2B",
        message_body="Kikao cha wazazi",
        delivery_method="sms",
        scheduled_time=at.isoformat(),
    )
    campaign_id = created["campaign_id"]
    assert delivery.release_due_campaigns() == []  # what the sweep does every 2 seconds
    assert dispatch.dispatch(campaign_id).sent == 0
    assert alice_client.get(detail(created["id"])).json()["status"] == "Pending"

    time.sleep(max(0.0, (at - now()).total_seconds()))
    assert [str(c) for c in delivery.release_due_campaigns()] == [campaign_id]
    assert [str(c) for c in queued] == [campaign_id]
    arkesel_accepts(arkesel, school.phones("Juma Ally"))
    send_all(campaign_id)
    assert arkesel.last.json()["recipients"] == [school.phone("Juma Ally").lstrip("+")]
    body = alice_client.get(detail(created["id"])).json()
    assert (body["status"], body["scheduled_time"]) == ("Sent", created["scheduled_time"])


def test_late_delivery_reports_change_the_counts(alice_client, school, arkesel):
    parents = school.phones("Juma Ally", "Mama Chausiku")
    arkesel_accepts(arkesel, parents)
    created = create(
        alice_client, recipient_group="All Parents", message_body="Ada", delivery_method="sms"
    )
    send_all(created["campaign_id"])
    assert alice_client.get(detail(created["id"])).json()["sent_count"] == 2
    # The vendor reports one undelivered, long after the message became Sent.
    Message.objects.filter(to=school.phone("Mama Chausiku")).update(status="failed")
    Campaign.objects.filter(pk=created["campaign_id"]).update(reports_at=now())
    delivery.refresh_stale_counters()
    body = alice_client.get(detail(created["id"])).json()
    assert (body["status"], body["sent_count"], body["failed_count"]) == ("Sent", 1, 1)


def test_reading_a_message_that_has_not_moved_writes_nothing(alice_client, school):
    created = create(
        alice_client,
        recipient_group="All Parents",
        message_body="Ada",
        delivery_method="sms",
        scheduled_time=(now() + timedelta(hours=1)).isoformat(),
    )
    before = BulkMessage.objects.get().updated_at
    alice_client.get(URL)
    alice_client.get(detail(created["id"]))
    assert BulkMessage.objects.get().updated_at == before


def test_with_billing_on_an_sms_reserves_its_cost(alice_client, school, settings, tenant_a):
    settings.BILLING_ENABLED = True
    credit_top_up(tenant=tenant_a, amount=Decimal("10"))
    created = create(
        alice_client, recipient_group="All Parents", message_body="Ada", delivery_method="sms"
    )
    charge = CampaignCharge.objects.get(campaign_id=created["campaign_id"])
    assert charge.reserved == Decimal("2")  # two parents, one segment each, 1 credit a segment
