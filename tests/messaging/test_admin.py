"""Platform staff in the Django admin: credit top-ups and sender-id review, over real HTTP."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from mifumo.messaging.models import (
    CampaignCharge,
    CreditAccount,
    CreditEntry,
    CreditEntryKind,
    SenderId,
    SenderIdStatus,
    SmsPrice,
)
from mifumo.messaging.pricing import forget_prices, price_per_segment
from mifumo.messaging.services.billing import credit_balance, credit_top_up
from mifumo.tenancy.models import User
from tests.factories import PASSWORD

TOP_UP_URL = "/admin/messaging/creditaccount/top-up/"
SENDER_IDS_URL = "/admin/messaging/senderid/"


@pytest.fixture
def staff(db):
    return User.objects.create_superuser(email="ops@mifumo.example", password=PASSWORD, name="Ops")


@pytest.fixture
def staff_client(staff):
    client = Client()
    assert client.login(username=staff.email, password=PASSWORD)
    return client


@pytest.fixture
def sender_ids(tenant_a, alice):
    return [
        SenderId.objects.create(tenant=tenant_a, value=value, requested_by=alice)
        for value in ("SHULE", "15050")
    ]


def test_it_tops_up_a_tenant_and_records_who_did_it(staff_client, staff, tenant_a):
    page = staff_client.get(TOP_UP_URL, {"tenant": tenant_a.pk})
    assert page.status_code == 200
    assert b"Top up" in page.content

    response = staff_client.post(
        TOP_UP_URL, {"tenant": tenant_a.pk, "amount": "250.5", "note": "Invoice 17"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/admin/messaging/creditaccount/"
    assert credit_balance(tenant_a) == Decimal("250.5")
    entry = CreditEntry.objects.get()
    assert (entry.kind, entry.amount, entry.balance_after) == (
        CreditEntryKind.TOP_UP,
        Decimal("250.5"),
        Decimal("250.5"),
    )
    assert (entry.created_by, entry.note, entry.tenant) == (staff, "Invoice 17", tenant_a)


def test_it_adds_a_top_up_to_the_existing_balance(staff_client, tenant_a):
    credit_top_up(tenant=tenant_a, amount=Decimal("10"))

    staff_client.post(TOP_UP_URL, {"tenant": tenant_a.pk, "amount": "5"})

    assert CreditEntry.objects.order_by("created_at").last().balance_after == Decimal("15")


@pytest.mark.parametrize("amount", ["0", "-3", "1.00001", "lots"])
def test_it_refuses_a_top_up_that_is_not_a_positive_amount(staff_client, tenant_a, amount):
    response = staff_client.post(TOP_UP_URL, {"tenant": tenant_a.pk, "amount": amount})

    assert response.status_code == 200  # the form again, with its error
    assert response.context["form"].errors["amount"]
    assert not CreditEntry.objects.exists()


def test_it_refuses_top_ups_to_staff_without_the_permission(tenant_a):
    User.objects.create_user(email="intern@mifumo.example", password=PASSWORD, is_staff=True)
    client = Client()
    client.login(username="intern@mifumo.example", password=PASSWORD)

    response = client.post(TOP_UP_URL, {"tenant": tenant_a.pk, "amount": "100"})

    assert response.status_code == 403
    assert not CreditEntry.objects.exists()


def test_it_sends_anonymous_visitors_to_the_login_page(db, tenant_a):
    response = Client().post(TOP_UP_URL, {"tenant": tenant_a.pk, "amount": "100"})

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert not CreditEntry.objects.exists()


def test_it_approves_sender_ids_with_the_admin_action(staff_client, staff, sender_ids):
    response = staff_client.post(
        SENDER_IDS_URL,
        {"action": "approve", "_selected_action": [str(s.pk) for s in sender_ids]},
    )

    assert response.status_code == 302
    for sender_id in SenderId.objects.all():
        assert sender_id.status == SenderIdStatus.APPROVED
        assert sender_id.reviewed_by == staff
        assert sender_id.reviewed_at is not None


def test_it_rejects_a_sender_id_and_keeps_the_others_pending(staff_client, staff, sender_ids):
    shule, other = sender_ids

    staff_client.post(SENDER_IDS_URL, {"action": "reject", "_selected_action": [str(shule.pk)]})

    shule.refresh_from_db()
    other.refresh_from_db()
    assert (shule.status, shule.reviewed_by) == (SenderIdStatus.REJECTED, staff)
    assert (other.status, other.reviewed_by) == (SenderIdStatus.PENDING, None)


def test_it_records_the_reviewer_when_staff_change_the_status_in_the_form(
    staff_client, staff, sender_ids, tenant_a, alice
):
    shule = sender_ids[0]

    response = staff_client.post(
        f"{SENDER_IDS_URL}{shule.pk}/change/",
        {
            "tenant": tenant_a.pk,
            "value": "SHULE",
            "purpose": "",
            "status": SenderIdStatus.REJECTED,
            "rejection_reason": "Registered to another school",
            "requested_by": alice.pk,
        },
    )

    assert response.status_code == 302, response.content
    shule.refresh_from_db()
    assert (shule.status, shule.reviewed_by) == (SenderIdStatus.REJECTED, staff)
    assert shule.rejection_reason == "Registered to another school"


def test_it_applies_a_price_change_at_once(staff_client):
    forget_prices()
    assert price_per_segment("KE") == Decimal("1")

    response = staff_client.post(
        "/admin/messaging/smsprice/add/", {"region": "KE", "price_per_segment": "0.8"}
    )

    assert response.status_code == 302
    assert SmsPrice.objects.get().price_per_segment == Decimal("0.8")
    assert price_per_segment("KE") == Decimal("0.8")


@pytest.mark.parametrize(
    "model", ["creditaccount", "creditentry", "campaigncharge", "bulkupload", "idempotencyrecord"]
)
def test_it_shows_money_and_records_read_only(staff_client, tenant_a, model):
    credit_top_up(tenant=tenant_a, amount=Decimal("5"))

    assert staff_client.get(f"/admin/messaging/{model}/").status_code == 200
    assert staff_client.get(f"/admin/messaging/{model}/add/").status_code == 403


def test_it_cannot_edit_a_balance_in_the_admin(staff_client, tenant_a):
    credit_top_up(tenant=tenant_a, amount=Decimal("5"))

    staff_client.post(
        f"/admin/messaging/creditaccount/{tenant_a.pk}/change/", {"balance": "1000000"}
    )

    assert CreditAccount.objects.get().balance == Decimal("5")
    assert not CampaignCharge.objects.exists()


@pytest.mark.parametrize("model", ["template", "senderid", "smsprice"])
def test_it_lists_the_editable_models(staff_client, sender_ids, model):
    assert staff_client.get(f"/admin/messaging/{model}/").status_code == 200
    assert staff_client.get(f"/admin/messaging/{model}/add/").status_code == 200
