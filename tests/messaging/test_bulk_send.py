"""POST /api/messaging/sms/bulk-send/ — the spec's "Bulk Send SMS"."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from django.utils.timezone import now
from rest_framework_simplejwt.tokens import AccessToken

from mifumo.contacts.models import Contact
from mifumo.delivery.models import Campaign, CampaignStatus, Message
from mifumo.messaging.models import CreditEntry, SenderId, SenderIdStatus, SmsPrice, Template
from mifumo.messaging.pricing import forget_prices
from mifumo.messaging.services.billing import credit_balance, credit_top_up
from tests.factories import create_contact, create_tenant
from tests.helpers import assert_error

URL = "/api/messaging/sms/bulk-send/"
SPEC_EXAMPLE = {
    "contacts": [
        {"phone": "+255700000001", "name": "John Doe"},
        {"phone": "+255700000002", "name": "Jane Smith"},
    ],
    "message": "Hello from Mifumo SMS!",
    "sender_id": "MIFUMO",
}


@pytest.fixture(autouse=True)
def _platform_sender(monkeypatch):
    monkeypatch.setenv("BEEM_SENDER_ID", "MIFUMO")


def _body(**overrides):
    return {**SPEC_EXAMPLE, **overrides}


def _spec_400(response) -> dict:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["success"] is False
    assert isinstance(body["message"], str) and body["message"]
    for key in ("total_contacts", "processed_contacts", "successful_contacts", "results"):
        assert key in body, body
    return body


def test_it_sends_the_spec_example(alice_client, tenant_a):
    response = alice_client.post(URL, SPEC_EXAMPLE, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True
    assert (body["total_contacts"], body["processed_contacts"], body["successful_contacts"]) == (
        2,
        2,
        2,
    )
    assert [r["phone"] for r in body["results"]] == ["+255700000001", "+255700000002"]
    assert all(r["success"] for r in body["results"])
    messages = {str(m.pk): m for m in Message.objects.filter(tenant=tenant_a)}
    assert set(messages) == {r["message_id"] for r in body["results"]}
    assert {m.body for m in messages.values()} == {"Hello from Mifumo SMS!"}
    campaign = Campaign.objects.get(pk=body["campaign_id"])
    assert campaign.status == CampaignStatus.QUEUED
    assert campaign.sender_id == "MIFUMO"
    assert campaign.total_messages == 2


def test_it_stores_the_segment_figures_on_each_message(alice_client, tenant_a):
    text = "Habari {{name}}, ada ni TSh 150,000 tafadhali lipa kabla ya tarehe 15. " * 2
    response = alice_client.post(
        URL,
        _body(contacts=[{"phone": "+255700000001", "name": "Juma"}], message=text + "’"),
        format="json",
    )
    assert response.status_code == 200, response.content
    message = Message.objects.get()
    assert message.encoding == "ucs2"
    assert message.segments == 3  # 147 UCS-2 characters: 67 + 67 + 13
    assert "{{" not in message.body and message.body.startswith("Habari Juma,")


def test_it_refuses_an_empty_list_of_contacts(alice_client):
    body = _spec_400(alice_client.post(URL, _body(contacts=[]), format="json"))
    assert body["total_contacts"] == 0 and body["results"] == []


def test_it_refuses_more_than_10000_contacts(alice_client):
    contacts = [{"phone": f"+2557{i:08d}"} for i in range(10_001)]
    body = _spec_400(alice_client.post(URL, _body(contacts=contacts), format="json"))
    assert body["error_code"] == "too_many_recipients"
    assert Message.objects.count() == 0


def test_it_accepts_exactly_10000_contacts(alice_client):
    contacts = [{"phone": f"+2557{i:08d}", "name": f"Mzazi {i}"} for i in range(10_000)]
    response = alice_client.post(URL, _body(contacts=contacts), format="json")
    assert response.status_code == 200, response.content
    assert response.json()["successful_contacts"] == 10_000
    assert Message.objects.count() == 10_000


def test_it_refuses_a_request_without_message_or_template(alice_client):
    body = _spec_400(alice_client.post(URL, _body(message=""), format="json"))
    assert "message" in body["message"]


def test_it_reads_numbers_in_every_local_shape_and_fails_only_the_bad_ones(alice_client):
    phones = [
        "0712345678",
        "712 345 679",
        "255712345680",
        "+255 712-345-681",
        "00255712345682",
        "0712-ABC-DEF",
        "12345",
        "",
    ]
    response = alice_client.post(
        URL, _body(contacts=[{"phone": phone} for phone in phones]), format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert [r["success"] for r in body["results"]] == [True] * 5 + [False] * 3
    assert body["results"][5]["error"].startswith("Invalid phone number format")
    assert "letters" in body["results"][5]["error"]
    assert (body["total_contacts"], body["processed_contacts"], body["successful_contacts"]) == (
        8,
        5,
        5,
    )
    assert (
        sorted(Message.objects.values_list("to", flat=True))
        == [f"+25571234567{digit}" if digit < 10 else "" for digit in range(8, 10)]
        + [f"+2557123456{n}" for n in range(80, 83)]
        or True
    )
    assert set(Message.objects.values_list("to", flat=True)) == {
        "+255712345678",
        "+255712345679",
        "+255712345680",
        "+255712345681",
        "+255712345682",
    }


def test_it_refuses_a_request_where_no_number_is_valid(alice_client):
    body = _spec_400(
        alice_client.post(URL, _body(contacts=[{"phone": "abc"}, {"phone": "1"}]), format="json")
    )
    assert body["message"].startswith("No valid recipients: Invalid phone number format")
    assert [r["success"] for r in body["results"]] == [False, False]
    assert Campaign.objects.count() == 0


def test_the_same_number_twice_is_one_message(alice_client):
    response = alice_client.post(
        URL,
        _body(contacts=[{"phone": "+255712345678"}, {"phone": "0712 345 678"}]),
        format="json",
    )
    results = response.json()["results"]
    assert Message.objects.count() == 1
    assert results[0]["message_id"] == results[1]["message_id"]
    assert results[1]["duplicate"] is True


def test_a_contact_entry_that_is_not_an_object_fails_alone(alice_client):
    response = alice_client.post(
        URL, _body(contacts=["+255712345678", {"phone": "+255712345679"}]), format="json"
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert results[0]["success"] is False and results[1]["success"] is True


def test_it_renders_variables_from_the_request_and_the_stored_contact(alice_client, tenant_a):
    create_contact(tenant_a, phone="+255712345678", name="Asha Juma", attributes={"fee": "5000"})
    response = alice_client.post(
        URL,
        _body(
            contacts=[
                {"phone": "+255712345678"},
                {"phone": "+255712345679", "name": "Baraka", "fee": 7000},
            ],
            message="Habari {{first_name}}, ada ni {{fee}}",
        ),
        format="json",
    )
    assert response.status_code == 200, response.content
    bodies = dict(Message.objects.values_list("to", "body"))
    assert bodies == {
        "+255712345678": "Habari Asha, ada ni 5000",
        "+255712345679": "Habari Baraka, ada ni 7000",
    }
    linked = Message.objects.get(to="+255712345678")
    assert linked.contact_id == Contact.objects.get(phone_e164="+255712345678").pk


def test_a_missing_variable_fails_that_recipient_with_the_reason(alice_client):
    response = alice_client.post(
        URL,
        _body(
            contacts=[{"phone": "+255712345678", "fee": "5000"}, {"phone": "+255712345679"}],
            message="Ada ni {{fee}}, {{name|mzazi}}",
        ),
        format="json",
    )
    results = response.json()["results"]
    assert results[0]["success"] is True
    assert results[1]["success"] is False and "{{fee}}" in results[1]["error"]
    assert Message.objects.get().body == "Ada ni 5000, mzazi"
    assert not Message.objects.filter(body__contains="{{").exists()


def test_it_sends_with_a_template(alice_client, tenant_a):
    template = Template.objects.create(tenant=tenant_a, name="ada", body="Habari {{name|mzazi}}")
    response = alice_client.post(
        URL,
        {"contacts": [{"phone": "+255712345678"}], "template_id": str(template.pk)},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert Message.objects.get().body == "Habari mzazi"


def test_another_tenants_template_or_campaign_is_a_404(alice_client, charlie_client):
    other = create_tenant()
    template = Template.objects.create(tenant=other, name="x", body="x")
    campaign = Campaign.objects.create(tenant=other)
    for field, value in (("template_id", template.pk), ("campaign_id", campaign.pk)):
        response = alice_client.post(URL, _body(**{field: str(value)}), format="json")
        assert_error(response, 404, "not_found")
    assert Message.objects.count() == 0


def test_a_sender_id_must_be_approved_for_the_tenant(alice_client, tenant_a):
    response = alice_client.post(URL, _body(sender_id="SHULE"), format="json")
    body = _spec_400(response) if response.status_code == 400 else None
    assert body and body["error_code"] == "sender_id_not_approved"
    SenderId.objects.create(tenant=tenant_a, value="SHULE", status=SenderIdStatus.PENDING)
    assert alice_client.post(URL, _body(sender_id="SHULE"), format="json").status_code == 400
    SenderId.objects.filter(value="SHULE").update(status=SenderIdStatus.APPROVED)
    response = alice_client.post(URL, _body(sender_id="SHULE"), format="json")
    assert response.status_code == 200
    assert Campaign.objects.get(pk=response.json()["campaign_id"]).sender_id == "SHULE"


def test_another_tenants_approved_sender_id_is_not_approved_here(alice_client):
    SenderId.objects.create(tenant=create_tenant(), value="OTHER", status=SenderIdStatus.APPROVED)
    response = alice_client.post(URL, _body(sender_id="OTHER"), format="json")
    assert response.json()["error_code"] == "sender_id_not_approved"


def test_without_a_sender_id_the_platform_default_is_used(alice_client):
    payload = _body()
    del payload["sender_id"]
    response = alice_client.post(URL, payload, format="json")
    assert Campaign.objects.get(pk=response.json()["campaign_id"]).sender_id == "MIFUMO"


def test_an_opted_out_contact_is_not_sent_to(alice_client, tenant_a):
    contact = create_contact(tenant_a, phone="+255712345678")
    Contact.objects.filter(pk=contact.pk).update(opted_out_at=now())
    response = alice_client.post(
        URL, _body(contacts=[{"phone": "0712345678"}, {"phone": "0712345679"}]), format="json"
    )
    results = response.json()["results"]
    assert results[0]["success"] is False and "opted out" in results[0]["error"]
    assert list(Message.objects.values_list("to", flat=True)) == ["+255712345679"]


def test_a_number_outside_the_allowed_countries_fails(alice_client):
    response = alice_client.post(
        URL, _body(contacts=[{"phone": "+254712345678"}, {"phone": "+255712345678"}]), format="json"
    )
    results = response.json()["results"]
    assert results[0]["success"] is False and "allowed countries (KE)" in results[0]["error"]
    assert results[1]["success"] is True


def test_schedule_at_schedules_the_campaign(alice_client):
    at = now() + timedelta(hours=3)
    response = alice_client.post(URL, _body(schedule_at=at.isoformat()), format="json")
    campaign = Campaign.objects.get(pk=response.json()["campaign_id"])
    assert campaign.status == CampaignStatus.SCHEDULED
    assert abs((campaign.scheduled_at - at).total_seconds()) < 1
    assert {m.next_attempt_at for m in Message.objects.all()} == {campaign.scheduled_at}


def test_schedule_at_in_the_past_is_refused(alice_client):
    response = alice_client.post(
        URL, _body(schedule_at=(now() - timedelta(hours=1)).isoformat()), format="json"
    )
    assert response.status_code == 400
    assert response.json()["details"]["schedule_at"]


def test_campaign_id_adds_to_an_existing_campaign(alice_client):
    first = alice_client.post(URL, SPEC_EXAMPLE, format="json").json()
    response = alice_client.post(
        URL,
        _body(
            contacts=[{"phone": "+255700000002"}, {"phone": "+255700000003"}],
            campaign_id=first["campaign_id"],
        ),
        format="json",
    )
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert results[0]["success"] is False and "already has a message" in results[0]["error"]
    assert results[1]["success"] is True
    campaign = Campaign.objects.get(pk=first["campaign_id"])
    assert campaign.total_messages == 3 and Campaign.objects.count() == 1


def test_unknown_fields_are_refused(alice_client):
    response = alice_client.post(URL, _body(mesage="typo"), format="json")
    assert_error(response, 400, "validation_error")


def test_a_member_may_send_and_an_anonymous_caller_may_not(bob_client, anon):
    assert bob_client.post(URL, SPEC_EXAMPLE, format="json").status_code == 200
    assert anon.post(URL, SPEC_EXAMPLE, format="json").status_code == 401


def test_the_sixth_send_in_a_minute_is_throttled(alice_client):
    for _ in range(5):
        assert alice_client.post(URL, SPEC_EXAMPLE, format="json").status_code == 200
    response = alice_client.post(URL, SPEC_EXAMPLE, format="json")
    assert_error(response, 429)
    assert response["Retry-After"]


# --- Idempotency-Key ------------------------------------------------------------------------


def test_the_same_key_and_body_returns_the_first_response_without_sending_again(alice_client):
    first = alice_client.post(URL, SPEC_EXAMPLE, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = alice_client.post(URL, SPEC_EXAMPLE, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Campaign.objects.count() == 1 and Message.objects.count() == 2


def test_the_same_key_with_another_body_is_a_409(alice_client):
    alice_client.post(URL, SPEC_EXAMPLE, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    response = alice_client.post(
        URL, _body(message="Different"), format="json", HTTP_IDEMPOTENCY_KEY="k-2"
    )
    assert_error(response, 409, "idempotency_key_reused")
    assert Message.objects.count() == 2


def test_a_key_is_per_tenant(alice_client, charlie_client, tenant_b):
    tenant_b.allowed_countries = ["TZ"]
    tenant_b.save()
    alice_client.post(URL, SPEC_EXAMPLE, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    response = charlie_client.post(URL, SPEC_EXAMPLE, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    assert response.status_code == 200 and "Idempotent-Replayed" not in response
    assert Campaign.objects.count() == 2


def test_a_refused_request_does_not_use_up_its_key(alice_client):
    bad = alice_client.post(URL, _body(sender_id="NOPE"), format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert bad.status_code == 400
    good = alice_client.post(URL, SPEC_EXAMPLE, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert good.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_same_key_twice_at_the_same_moment_sends_once(live_server, alice, tenant_a):
    token = str(AccessToken.for_user(alice))
    barrier = threading.Barrier(4)

    def post(_):
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            return client.post(
                f"{live_server.url}{URL}",
                json=SPEC_EXAMPLE,
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "at-once"},
            )

    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(post, range(4)))
    assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
    assert len({r.json()["campaign_id"] for r in responses}) == 1
    assert Campaign.objects.count() == 1 and Message.objects.count() == 2


# --- credits -------------------------------------------------------------------------------


def test_with_billing_on_a_send_that_does_not_fit_is_a_402_and_queues_nothing(
    alice_client, tenant_a, settings
):
    settings.BILLING_ENABLED = True
    settings.SMS_DEFAULT_PRICE = Decimal("20")
    forget_prices()
    credit_top_up(tenant=tenant_a, amount=Decimal("30"))
    response = alice_client.post(URL, SPEC_EXAMPLE, format="json")
    body = assert_error(response, 402, "insufficient_credit")
    assert Decimal(body["details"]["cost"]) == 40 and Decimal(body["details"]["balance"]) == 30
    assert Campaign.objects.count() == 0 and Message.objects.count() == 0
    assert credit_balance(tenant_a) == 30


def test_with_billing_on_the_cost_is_reserved_per_destination(alice_client, tenant_a, settings):
    settings.BILLING_ENABLED = True
    tenant_a.allowed_countries = ["TZ", "KE"]
    tenant_a.save()
    SmsPrice.objects.create(region="TZ", price_per_segment=Decimal("18"))
    SmsPrice.objects.create(region="KE", price_per_segment=Decimal("25.5"))
    forget_prices()
    credit_top_up(tenant=tenant_a, amount=Decimal("1000"))
    response = alice_client.post(
        URL,
        _body(contacts=[{"phone": "+255712345678"}, {"phone": "+254712345678"}], message="x" * 161),
        format="json",
    )
    assert response.status_code == 200, response.content
    assert credit_balance(tenant_a) == Decimal("1000") - 2 * 18 - 2 * Decimal("25.5")
    costs = dict(Message.objects.values_list("to", "cost"))
    assert costs == {"+255712345678": Decimal("36"), "+254712345678": Decimal("51")}
    assert CreditEntry.objects.filter(kind="reserve").count() == 1


def test_an_expired_key_is_a_new_request_and_the_task_forgets_old_keys(alice_client):
    from mifumo.messaging.models import IdempotencyRecord
    from mifumo.messaging.tasks import expire_idempotency_keys

    alice_client.post(URL, SPEC_EXAMPLE, format="json", HTTP_IDEMPOTENCY_KEY="old")
    IdempotencyRecord.objects.update(created_at=now() - timedelta(hours=25))
    response = alice_client.post(URL, SPEC_EXAMPLE, format="json", HTTP_IDEMPOTENCY_KEY="old")
    assert "Idempotent-Replayed" not in response
    assert Campaign.objects.count() == 2
    IdempotencyRecord.objects.update(created_at=now() - timedelta(hours=25))
    assert expire_idempotency_keys() == 1
    assert not IdempotencyRecord.objects.exists()


def test_an_idempotency_key_must_be_printable_ascii_up_to_255(alice_client):
    for key in ["x" * 256, "ключ"]:
        response = alice_client.post(URL, SPEC_EXAMPLE, format="json", HTTP_IDEMPOTENCY_KEY=key)
        assert response.status_code == 400
        assert response.json()["error_code"] == "invalid_idempotency_key"
    assert Message.objects.count() == 0
