"""/api/messaging/campaigns/, /api/messaging/messages/ and /api/messaging/sender-ids/."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils.timezone import now

from mifumo.delivery.models import Campaign, CampaignStatus, Message, MessageStatus
from mifumo.delivery.services import Recipient, campaign_accept
from mifumo.messaging.models import SenderId, SenderIdStatus
from mifumo.messaging.services.billing import credit_balance, credit_top_up
from tests.helpers import assert_error


@pytest.fixture(autouse=True)
def _platform_sender(monkeypatch):
    monkeypatch.setenv("BEEM_SENDER_ID", "MIFUMO")


def a_campaign(tenant, count=3, **fields) -> Campaign:
    return campaign_accept(
        tenant=tenant,
        recipients=[
            Recipient(to=f"+2557123456{index:02d}", body=f"Habari {index}", cost=Decimal("2"))
            for index in range(count)
        ],
        **fields,
    )


def test_campaigns_are_listed_newest_first_with_their_counters(alice_client, tenant_a):
    older = a_campaign(tenant_a, name="Kikao")
    Campaign.objects.filter(pk=older.pk).update(created_at=now() - timedelta(days=1))
    newer = a_campaign(tenant_a, count=2, name="Ada")
    body = alice_client.get("/api/messaging/campaigns/").json()
    assert body["count"] == 2
    assert [c["id"] for c in body["results"]] == [str(newer.pk), str(older.pk)]
    assert body["results"][0]["counters"] == {"queued": 2}
    assert body["results"][0]["total_messages"] == 2


def test_campaigns_filter_by_status(alice_client, tenant_a):
    a_campaign(tenant_a)
    scheduled = a_campaign(tenant_a, scheduled_at=now() + timedelta(hours=1))
    body = alice_client.get("/api/messaging/campaigns/?status=scheduled").json()
    assert [c["id"] for c in body["results"]] == [str(scheduled.pk)]


def test_the_detail_counts_messages_per_status_now(alice_client, tenant_a):
    campaign = a_campaign(tenant_a)
    first = campaign.messages.order_by("to").first()
    Message.objects.filter(pk=first.pk).update(status=MessageStatus.DELIVERED)
    body = alice_client.get(f"/api/messaging/campaigns/{campaign.pk}/").json()
    assert body["counters"] == {"delivered": 1, "queued": 2}


def test_cancel_stops_what_is_not_sent(alice_client, tenant_a):
    campaign = a_campaign(tenant_a)
    response = alice_client.post(f"/api/messaging/campaigns/{campaign.pk}/cancel/")
    assert response.status_code == 200, response.content
    assert response.json()["cancelled_messages"] == 3
    assert response.json()["status"] == CampaignStatus.CANCELLED
    again = alice_client.post(f"/api/messaging/campaigns/{campaign.pk}/cancel/")
    assert_error(again, 400, "campaign_finished")


def test_retry_queues_failed_and_unknown_messages_again(alice_client, tenant_a):
    campaign = a_campaign(tenant_a)
    messages = list(campaign.messages.order_by("to"))
    Message.objects.filter(pk=messages[0].pk).update(status=MessageStatus.FAILED)
    Message.objects.filter(pk=messages[1].pk).update(status=MessageStatus.UNKNOWN)
    Message.objects.filter(pk=messages[2].pk).update(status=MessageStatus.SENT)
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.COMPLETED)
    response = alice_client.post(
        f"/api/messaging/campaigns/{campaign.pk}/retry/", {"statuses": ["failed"]}, format="json"
    )
    assert response.json()["retried_messages"] == 1
    assert response.json()["status"] == CampaignStatus.QUEUED
    response = alice_client.post(f"/api/messaging/campaigns/{campaign.pk}/retry/")
    assert response.json()["retried_messages"] == 1  # the unknown one; failed is queued now
    assert_error(
        alice_client.post(
            f"/api/messaging/campaigns/{campaign.pk}/retry/", {"statuses": ["sent"]}, format="json"
        ),
        400,
        "validation_error",
    )


def test_with_billing_on_a_retry_reserves_its_cost(alice_client, tenant_a, settings):
    settings.BILLING_ENABLED = True
    campaign = a_campaign(tenant_a)
    Message.objects.filter(campaign=campaign).update(status=MessageStatus.FAILED)
    credit_top_up(tenant=tenant_a, amount=Decimal("5"))
    response = alice_client.post(f"/api/messaging/campaigns/{campaign.pk}/retry/")
    assert_error(response, 402, "insufficient_credit")
    assert campaign.messages.filter(status=MessageStatus.FAILED).count() == 3
    credit_top_up(tenant=tenant_a, amount=Decimal("1"))
    assert alice_client.post(f"/api/messaging/campaigns/{campaign.pk}/retry/").status_code == 200
    assert credit_balance(tenant_a) == 0


def test_messages_filter_by_campaign_status_phone_and_date(alice_client, tenant_a):
    first = a_campaign(tenant_a, count=2)
    second = a_campaign(tenant_a, count=1)
    Message.objects.filter(campaign=first, to="+255712345601").update(
        status=MessageStatus.FAILED, error_code="invalid_number", error_message="Invalid number"
    )
    listed = alice_client.get(f"/api/messaging/messages/?campaign={first.pk}").json()
    assert listed["count"] == 2
    failed = alice_client.get("/api/messaging/messages/?status=failed").json()["results"]
    assert [(m["phone"], m["error_code"], m["error_message"]) for m in failed] == [
        ("+255712345601", "invalid_number", "Invalid number")
    ]
    by_phone = alice_client.get("/api/messaging/messages/?phone=0712345600").json()
    assert {m["campaign_id"] for m in by_phone["results"]} == {str(first.pk), str(second.pk)}
    later = (now() + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    assert alice_client.get(f"/api/messaging/messages/?created_after={later}").json()["count"] == 0
    message = failed[0]
    detail = alice_client.get(f"/api/messaging/messages/{message['id']}/").json()
    assert detail["cost"] == "2.0000" and detail["segments"] == 1


def test_another_tenants_campaigns_and_messages_are_404s(alice_client, charlie_client, tenant_a):
    campaign = a_campaign(tenant_a)
    message = campaign.messages.first()
    for method, url in [
        ("get", f"/api/messaging/campaigns/{campaign.pk}/"),
        ("post", f"/api/messaging/campaigns/{campaign.pk}/cancel/"),
        ("post", f"/api/messaging/campaigns/{campaign.pk}/retry/"),
        ("get", f"/api/messaging/messages/{message.pk}/"),
    ]:
        assert_error(getattr(charlie_client, method)(url), 404, "not_found")
    assert charlie_client.get("/api/messaging/campaigns/").json()["count"] == 0
    assert charlie_client.get("/api/messaging/messages/").json()["count"] == 0
    assert (
        charlie_client.get(f"/api/messaging/messages/?campaign={campaign.pk}").json()["count"] == 0
    )
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.QUEUED


def test_a_member_may_read_cancel_and_retry(bob_client, tenant_a):
    campaign = a_campaign(tenant_a)
    assert bob_client.get(f"/api/messaging/campaigns/{campaign.pk}/").status_code == 200
    assert bob_client.post(f"/api/messaging/campaigns/{campaign.pk}/cancel/").status_code == 200


# --- sender ids ------------------------------------------------------------------------------


def test_an_admin_requests_a_sender_id_and_it_is_pending(alice_client, tenant_a):
    response = alice_client.post(
        "/api/messaging/sender-ids/", {"value": "SHULE", "purpose": "Taarifa za shule"}
    )
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "pending"
    listed = alice_client.get("/api/messaging/sender-ids/").json()
    assert [s["value"] for s in listed["results"]] == ["SHULE"]
    assert listed["default_sender_id"] == "MIFUMO"


@pytest.mark.parametrize(
    "value",
    ["TWELVE_CHARS", "ABCDEFGHIJKL", "", "   ", "12", "1234567890123456", "SHULE!", "Ha\nbari"],
)
def test_it_refuses_sender_ids_vendors_would_refuse(alice_client, value):
    response = alice_client.post("/api/messaging/sender-ids/", {"value": value})
    assert_error(response, 400)


@pytest.mark.parametrize("value", ["SHULE", "Shule Yetu", "15050", "+255712345678", "A1-B2.C3"])
def test_it_accepts_alphanumeric_up_to_11_and_numeric_up_to_15(alice_client, value):
    assert alice_client.post("/api/messaging/sender-ids/", {"value": value}).status_code == 201


@pytest.mark.parametrize("again", ["SHULE", "Shule", " shule "])
def test_the_same_sender_id_twice_in_any_case_is_a_409(alice_client, tenant_a, again):
    alice_client.post("/api/messaging/sender-ids/", {"value": "SHULE"})
    assert_error(alice_client.post("/api/messaging/sender-ids/", {"value": again}), 409)
    assert list(SenderId.objects.filter(tenant=tenant_a).values_list("value", flat=True)) == [
        "SHULE"
    ]


def test_a_member_cannot_request_or_withdraw_a_sender_id(bob_client, tenant_a):
    assert_error(bob_client.post("/api/messaging/sender-ids/", {"value": "SHULE"}), 403)
    sender = SenderId.objects.create(tenant=tenant_a, value="X")
    assert_error(bob_client.delete(f"/api/messaging/sender-ids/{sender.pk}/"), 403)
    assert bob_client.get("/api/messaging/sender-ids/").status_code == 200


def test_another_tenants_sender_id_is_a_404(charlie_client, tenant_a):
    sender = SenderId.objects.create(tenant=tenant_a, value="X", status=SenderIdStatus.APPROVED)
    assert_error(charlie_client.get(f"/api/messaging/sender-ids/{sender.pk}/"), 404)
    assert_error(charlie_client.delete(f"/api/messaging/sender-ids/{sender.pk}/"), 404)
    assert SenderId.objects.filter(pk=sender.pk).exists()


def test_an_admin_withdraws_a_sender_id(alice_client, tenant_a):
    sender = SenderId.objects.create(tenant=tenant_a, value="X")
    assert alice_client.delete(f"/api/messaging/sender-ids/{sender.pk}/").status_code == 204
    assert not SenderId.objects.exists()
