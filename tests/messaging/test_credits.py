"""Credits: reserving a send's cost, refusing what does not fit, settling finished campaigns,
the ledger, sign-up credits and GET /api/messaging/sms/balance/ and /sms/ledger/."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connections, transaction
from django.urls import path
from django.utils.timezone import now
from rest_framework.response import Response
from rest_framework.views import APIView

from mifumo.delivery import services as delivery
from mifumo.delivery.models import Campaign, CampaignStatus, Message, MessageStatus
from mifumo.delivery.services import Recipient
from mifumo.messaging.models import CampaignCharge, CreditAccount, CreditEntry, CreditEntryKind
from mifumo.messaging.pricing import forget_prices
from mifumo.messaging.services import billing
from mifumo.messaging.tasks import settle_credits
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.services import tenant_register
from mifumo.urls import urlpatterns as real_urlpatterns
from tests.factories import create_tenant, next_phone
from tests.helpers import assert_error

D = Decimal
BALANCE_URL = "/api/messaging/sms/balance/"
LEDGER_URL = "/api/messaging/sms/ledger/"


@pytest.fixture(autouse=True)
def billing_on(settings):
    settings.BILLING_ENABLED = True
    settings.SIGNUP_CREDITS = D("0")
    settings.SMS_DEFAULT_PRICE = D("1")
    forget_prices()
    yield settings
    forget_prices()


def send(tenant, count=3, price="1.5", reserve=True) -> Campaign:
    """What a bulk send does: one transaction writes the campaign and its priced messages and
    reserves their cost. Scheduled a day ahead, so no dispatch is queued."""
    with transaction.atomic():
        campaign = delivery.campaign_accept(
            tenant=tenant,
            recipients=[Recipient(to=next_phone(), body="Habari") for _ in range(count)],
            scheduled_at=now() + timedelta(days=1),
        )
        Message.objects.filter(campaign=campaign).update(cost=D(price))
        if reserve:
            billing.credit_reserve(tenant=tenant, campaign=campaign, cost=D(price) * count)
    return campaign


def finish(campaign, *statuses, status=CampaignStatus.COMPLETED, at=None):
    """The engine's outcome: each message in turn gets the next status; the campaign ends."""
    for message, message_status in zip(campaign.messages.order_by("to"), statuses, strict=True):
        Message.objects.filter(pk=message.pk).update(status=message_status)
    Campaign.objects.filter(pk=campaign.pk).update(status=status, completed_at=at or now())


def report(campaign, to_status, at=None):
    """A late delivery report: one sent message's outcome arrives after the campaign ended."""
    message = campaign.messages.filter(status=MessageStatus.SENT).order_by("to").first()
    Message.objects.filter(pk=message.pk).update(status=to_status)
    Campaign.objects.filter(pk=campaign.pk).update(reports_at=at or now())


def balance(tenant) -> Decimal:
    return billing.credit_balance(tenant)


def ledger(tenant) -> list[tuple[str, Decimal, Decimal]]:
    entries = CreditEntry.objects.filter(tenant=tenant).order_by("created_at", "id")
    return [(e.kind, e.amount, e.balance_after) for e in entries]


def assert_chain(tenant):
    """Each entry's balance_after is the previous one plus its amount, ending at the balance."""
    running = D("0")
    for _, amount, balance_after in ledger(tenant):
        running += amount
        assert balance_after == running
    assert running == balance(tenant)


# --- reserving --------------------------------------------------------------------------------


def test_it_takes_a_sends_cost_from_the_balance_when_it_is_accepted(tenant_a, alice):
    billing.credit_top_up(tenant=tenant_a, amount=D("10"))

    with transaction.atomic():
        campaign = delivery.campaign_accept(
            tenant=tenant_a,
            recipients=[Recipient(to=next_phone(), body="Habari")],
            scheduled_at=now() + timedelta(days=1),
        )
        billing.credit_reserve(tenant=tenant_a, campaign=campaign, cost=D("4.25"), created_by=alice)

    assert balance(tenant_a) == D("5.75")
    entry = CreditEntry.objects.get(kind=CreditEntryKind.RESERVE)
    assert (entry.amount, entry.balance_after) == (D("-4.25"), D("5.75"))
    assert (entry.campaign_id, entry.created_by, entry.tenant) == (campaign.pk, alice, tenant_a)
    charge = CampaignCharge.objects.get(campaign=campaign)
    assert (charge.reserved, charge.refunded, charge.settled_at) == (D("4.25"), 0, None)


def test_it_accepts_a_send_that_costs_exactly_the_balance(tenant_a):
    billing.credit_top_up(tenant=tenant_a, amount=D("4.5"))

    send(tenant_a, count=3, price="1.5")

    assert balance(tenant_a) == D("0")


def test_it_refuses_a_send_the_balance_does_not_cover_and_queues_nothing(tenant_a):
    billing.credit_top_up(tenant=tenant_a, amount=D("4"))

    with pytest.raises(ApplicationError) as refused:
        send(tenant_a, count=3, price="1.5")

    error = refused.value
    assert (error.status_code, error.error_code) == (402, "insufficient_credit")
    assert error.message == "Insufficient credit: this send costs 4.5 and the balance is 4."
    assert error.details == {"cost": "4.5000", "balance": "4.0000", "shortfall": "0.5000"}
    assert balance(tenant_a) == D("4")
    assert not Campaign.objects.exists() and not Message.objects.exists()
    assert not CampaignCharge.objects.exists()
    assert [kind for kind, _, _ in ledger(tenant_a)] == [CreditEntryKind.TOP_UP]


def test_it_refuses_any_paid_send_of_a_tenant_without_an_account(tenant_a):
    CreditAccount.objects.all().delete()  # a tenant from before billing was turned on

    with pytest.raises(ApplicationError) as refused:
        send(tenant_a, count=1, price="0.02")

    assert refused.value.details == {"cost": "0.0200", "balance": "0.0000", "shortfall": "0.0200"}
    assert not CreditAccount.objects.exists()


def test_it_accepts_a_free_send_of_a_tenant_without_an_account(tenant_a):
    CreditAccount.objects.all().delete()

    send(tenant_a, count=2, price="0")

    assert balance(tenant_a) == D("0")
    assert CampaignCharge.objects.get().reserved == D("0")


def test_it_neither_charges_nor_refuses_while_billing_is_off(tenant_a, billing_on):
    billing_on.BILLING_ENABLED = False

    campaign = send(tenant_a, count=3, price="1.5")

    assert billing.billing_enabled() is False
    assert campaign.messages.count() == 3
    assert balance(tenant_a) == 0 and not CreditEntry.objects.exists()
    assert not CampaignCharge.objects.exists()


@pytest.mark.urls(__name__)
def test_it_answers_a_send_that_does_not_fit_with_the_402_envelope(tenant_a, alice_client):
    billing.credit_top_up(tenant=tenant_a, amount=D("1"))

    response = alice_client.post("/test-send/", {"count": 3})

    body = assert_error(response, 402, "insufficient_credit")
    assert body["message"] == "Insufficient credit: this send costs 4.5 and the balance is 1."
    assert body["details"] == {"cost": "4.5000", "balance": "1.0000", "shortfall": "3.5000"}
    assert not Campaign.objects.exists()


class _SendView(APIView):
    """A stand-in for bulk send: the 402 has to come out of the API's exception handler."""

    def post(self, request):
        campaign = send(request.tenant, count=request.data["count"])
        return Response({"campaign_id": str(campaign.pk)})


urlpatterns = [path("test-send/", _SendView.as_view()), *real_urlpatterns]


# --- top-ups and the ledger -------------------------------------------------------------------


def test_it_tops_up_a_tenant_without_an_account(tenant_a, alice):
    CreditAccount.objects.all().delete()

    entry = billing.credit_top_up(tenant=tenant_a, amount=D("100"), note="Invoice 7")

    assert balance(tenant_a) == D("100")
    assert (entry.kind, entry.amount, entry.balance_after, entry.note) == (
        CreditEntryKind.TOP_UP,
        D("100"),
        D("100"),
        "Invoice 7",
    )


@pytest.mark.parametrize("amount", ["0", "-5"])
def test_it_refuses_a_top_up_that_is_not_positive(tenant_a, amount):
    with pytest.raises(ApplicationError) as refused:
        billing.credit_top_up(tenant=tenant_a, amount=D(amount))

    assert refused.value.error_code == "invalid_amount"
    assert not CreditEntry.objects.exists()


def test_it_keeps_every_balance_after_in_the_ledger_consistent(tenant_a, tenant_b):
    billing.credit_top_up(tenant=tenant_a, amount=D("20"))
    billing.credit_top_up(tenant=tenant_b, amount=D("7"))
    first = send(tenant_a, count=4, price="0.35")
    second = send(tenant_a, count=2, price="2.5")
    finish(first, MessageStatus.DELIVERED, MessageStatus.FAILED, MessageStatus.SENT, "unknown")
    finish(second, MessageStatus.CANCELLED, MessageStatus.CANCELLED, status="cancelled")
    billing.credits_settle()
    billing.credit_top_up(tenant=tenant_a, amount=D("0.0001"))

    entries = ledger(tenant_a)
    assert entries[:3] == [
        ("top_up", D("20"), D("20")),
        ("reserve", D("-1.4"), D("18.6")),
        ("reserve", D("-5"), D("13.6")),
    ]
    assert sorted((kind, amount) for kind, amount, _ in entries[3:5]) == [
        ("refund", D("0.35")),
        ("refund", D("5")),
    ]
    assert entries[5] == ("top_up", D("0.0001"), D("18.9501"))
    assert_chain(tenant_a)
    assert_chain(tenant_b)
    assert balance(tenant_b) == D("7")


# --- settling ---------------------------------------------------------------------------------


def test_it_refunds_failed_and_cancelled_messages_once_the_campaign_has_finished(tenant_a):
    billing.credit_top_up(tenant=tenant_a, amount=D("100"))
    campaign = send(tenant_a, count=6, price="1.25")
    finish(
        campaign,
        MessageStatus.DELIVERED,
        MessageStatus.SENT,
        MessageStatus.UNKNOWN,  # may have arrived: charged
        MessageStatus.FAILED,
        MessageStatus.FAILED,
        MessageStatus.CANCELLED,
        status=CampaignStatus.CANCELLED,
    )

    assert billing.credits_settle() == 1

    assert balance(tenant_a) == D("100") - D("7.5") + D("3.75")
    refund = CreditEntry.objects.get(kind=CreditEntryKind.REFUND)
    assert (refund.amount, refund.campaign_id) == (D("3.75"), campaign.pk)
    charge = CampaignCharge.objects.get()
    assert (charge.reserved, charge.refunded) == (D("7.5"), D("3.75"))
    assert charge.settled_at is not None
    assert billing.credit_reserved_in_flight(tenant_a) == 0


def test_it_leaves_a_campaign_that_is_still_sending_unsettled(tenant_a):
    billing.credit_top_up(tenant=tenant_a, amount=D("10"))
    campaign = send(tenant_a, count=2, price="1")
    Message.objects.filter(campaign=campaign).update(status=MessageStatus.FAILED)
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENDING)

    assert billing.credits_settle() == 0

    assert balance(tenant_a) == D("8")
    assert CampaignCharge.objects.get().settled_at is None
    assert billing.credit_reserved_in_flight(tenant_a) == D("2")


def test_it_settles_a_campaign_with_nothing_to_refund_without_a_ledger_entry(tenant_a):
    billing.credit_top_up(tenant=tenant_a, amount=D("10"))
    campaign = send(tenant_a, count=2, price="1")
    finish(campaign, MessageStatus.DELIVERED, MessageStatus.SENT)

    assert billing.credits_settle() == 1

    assert CampaignCharge.objects.get().settled_at is not None
    assert [kind for kind, _, _ in ledger(tenant_a)] == ["top_up", "reserve"]


def test_it_settles_nothing_twice(tenant_a):
    billing.credit_top_up(tenant=tenant_a, amount=D("10"))
    campaign = send(tenant_a, count=2, price="1")
    finish(campaign, MessageStatus.DELIVERED, MessageStatus.FAILED)

    assert settle_credits() == 1
    assert settle_credits() == 0

    assert balance(tenant_a) == D("9")
    assert CreditEntry.objects.filter(kind=CreditEntryKind.REFUND).count() == 1


def test_it_refunds_a_failure_reported_after_the_settlement(tenant_a):
    billing.credit_top_up(tenant=tenant_a, amount=D("10"))
    campaign = send(tenant_a, count=3, price="1")
    finish(campaign, MessageStatus.SENT, MessageStatus.SENT, MessageStatus.FAILED)
    billing.credits_settle()
    assert balance(tenant_a) == D("8")

    report(campaign, MessageStatus.FAILED, at=now() + timedelta(seconds=5))
    assert billing.credits_settle() == 1
    assert billing.credits_settle() == 0

    assert balance(tenant_a) == D("9")
    assert [amount for kind, amount, _ in ledger(tenant_a) if kind == "refund"] == [D("1"), D("1")]
    assert CampaignCharge.objects.get().refunded == D("2")
    assert_chain(tenant_a)


def test_it_stops_looking_for_late_reports_after_three_days(tenant_a):
    billing.credit_top_up(tenant=tenant_a, amount=D("10"))
    campaign = send(tenant_a, count=2, price="1")
    finish(campaign, MessageStatus.SENT, MessageStatus.SENT, at=now() - timedelta(days=4))
    billing.credits_settle()

    report(campaign, MessageStatus.FAILED)

    assert billing.credits_settle() == 0
    assert balance(tenant_a) == D("8")


def test_it_charges_a_retry_after_settlement_once_when_the_retry_reserves(tenant_a):
    billing.credit_top_up(tenant=tenant_a, amount=D("10"))
    campaign = send(tenant_a, count=4, price="1")
    finish(campaign, "delivered", "delivered", "failed", "failed")
    billing.credits_settle()
    assert balance(tenant_a) == D("8")

    # What the campaigns endpoint's retry does: reserve the retried messages' cost first.
    with transaction.atomic():
        retrying = Message.objects.filter(campaign=campaign, status__in=["failed", "unknown"])
        cost = sum(retrying.values_list("cost", flat=True))
        billing.credit_reserve(tenant=tenant_a, campaign=campaign, cost=cost)
        assert delivery.campaign_retry(campaign=campaign) == 2
    assert CampaignCharge.objects.get().settled_at is None  # reopened
    assert balance(tenant_a) == D("6")
    assert billing.credits_settle() == 0  # queued again: nothing to settle yet

    finish(campaign, "delivered", "delivered", "delivered", "failed")
    assert billing.credits_settle() == 1

    assert balance(tenant_a) == D("7")  # three messages delivered, three credits
    charge = CampaignCharge.objects.get()
    assert (charge.reserved, charge.refunded) == (D("6"), D("3"))
    assert_chain(tenant_a)


def test_it_charges_a_retry_after_settlement_at_the_next_settlement_when_it_did_not_reserve(
    tenant_a,
):
    billing.credit_top_up(tenant=tenant_a, amount=D("10"))
    campaign = send(tenant_a, count=4, price="1")
    finish(campaign, "delivered", "delivered", "failed", "failed")
    billing.credits_settle()
    delivery.campaign_retry(campaign=campaign)

    finish(
        campaign, "delivered", "delivered", "delivered", "failed", at=now() + timedelta(seconds=5)
    )
    assert billing.credits_settle() == 1

    assert balance(tenant_a) == D("7")
    adjustment = CreditEntry.objects.get(kind=CreditEntryKind.ADJUSTMENT)
    assert adjustment.amount == D("-1")
    assert CreditEntry.objects.filter(kind=CreditEntryKind.REFUND).count() == 1
    assert_chain(tenant_a)


def test_it_refuses_a_retry_the_balance_does_not_cover(tenant_a):
    billing.credit_top_up(tenant=tenant_a, amount=D("4"))
    campaign = send(tenant_a, count=4, price="1")
    finish(campaign, "delivered", "delivered", "failed", "failed")
    billing.credits_settle()
    send(tenant_a, count=1, price="1")
    assert balance(tenant_a) == D("1")

    with pytest.raises(ApplicationError) as refused, transaction.atomic():
        billing.credit_reserve(tenant=tenant_a, campaign=campaign, cost=D("2"))
        delivery.campaign_retry(campaign=campaign)

    assert refused.value.status_code == 402
    assert campaign.messages.filter(status="failed").count() == 2
    charge = CampaignCharge.objects.get(campaign=campaign)
    assert (charge.reserved, charge.refunded) == (D("4"), D("2"))
    assert charge.settled_at is not None
    assert balance(tenant_a) == D("1")


def test_it_charges_a_retry_before_settlement_only_for_what_was_sent(tenant_a):
    billing.credit_top_up(tenant=tenant_a, amount=D("10"))
    campaign = send(tenant_a, count=4, price="1")
    finish(campaign, "delivered", "delivered", "failed", "failed")
    delivery.campaign_retry(campaign=campaign)  # before the settle task ran

    finish(campaign, "delivered", "delivered", "delivered", "failed")
    billing.credits_settle()

    assert balance(tenant_a) == D("7")
    assert_chain(tenant_a)


def test_it_prices_a_message_its_sender_left_without_a_cost(tenant_a):
    billing.credit_top_up(tenant=tenant_a, amount=D("10"))
    campaign = send(tenant_a, count=2, price="1")
    Message.objects.filter(campaign=campaign).update(cost=None)
    finish(campaign, "delivered", "failed")

    billing.credits_settle()

    assert balance(tenant_a) == D("9")  # the delivered one, at the default price


# --- concurrency ------------------------------------------------------------------------------


def _at_once(count: int, work) -> list:
    """Run work(i) in `count` threads, each with its own database connection, released
    together; returns each one's result or exception."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except Exception as error:  # the test inspects it
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.django_db(transaction=True)
def test_it_lets_only_the_sends_that_fit_through_when_they_arrive_at_once():
    tenant = create_tenant()
    billing.credit_top_up(tenant=tenant, amount=D("10"))

    results = _at_once(6, lambda _: send(tenant, count=2, price="1.5"))

    accepted = [r for r in results if isinstance(r, Campaign)]
    refused = [r for r in results if isinstance(r, ApplicationError)]
    assert (len(accepted), len(refused)) == (3, 3), results
    assert {r.error_code for r in refused} == {"insufficient_credit"}
    assert balance(tenant) == D("1")
    assert Campaign.objects.count() == 3
    assert CreditEntry.objects.filter(kind=CreditEntryKind.RESERVE).count() == 3
    assert_chain(tenant)


@pytest.mark.django_db(transaction=True)
def test_it_refunds_once_when_two_settlements_run_at_once():
    tenant = create_tenant()
    billing.credit_top_up(tenant=tenant, amount=D("10"))
    campaigns = [send(tenant, count=2, price="1") for _ in range(3)]
    for campaign in campaigns:
        finish(campaign, MessageStatus.FAILED, MessageStatus.DELIVERED)

    results = _at_once(2, lambda _: billing.credits_settle())

    assert sum(results) == 3, results  # each campaign settled by one of them
    assert balance(tenant) == D("7")
    assert CreditEntry.objects.filter(kind=CreditEntryKind.REFUND).count() == 3
    assert_chain(tenant)


# --- sign-up credits --------------------------------------------------------------------------


def _register(email="juma@shule.example"):
    user = tenant_register(
        organization="Shule ya Juma", name="Juma", email=email, password="a long passphrase 7"
    )
    return user.membership.tenant


def test_it_gives_a_new_tenant_its_signup_credits(db, billing_on):
    billing_on.SIGNUP_CREDITS = D("25")

    tenant = _register()

    assert balance(tenant) == D("25")
    assert ledger(tenant) == [(CreditEntryKind.SIGNUP, D("25"), D("25"))]


def test_it_opens_an_empty_account_when_there_are_no_signup_credits(db):
    tenant = _register()

    assert CreditAccount.objects.get(tenant=tenant).balance == 0
    assert not CreditEntry.objects.exists()


def test_it_gives_no_signup_credits_while_billing_is_off(db, billing_on):
    billing_on.BILLING_ENABLED = False
    billing_on.SIGNUP_CREDITS = D("25")

    tenant = _register()

    assert not CreditAccount.objects.filter(tenant=tenant).exists()


# --- the API ----------------------------------------------------------------------------------


@pytest.fixture
def funded(tenant_a, tenant_b):
    billing.credit_top_up(tenant=tenant_a, amount=D("50"), note="Invoice 1")
    send(tenant_a, count=4, price="2.5")
    billing.credit_top_up(tenant=tenant_b, amount=D("3"))


@pytest.mark.parametrize("who", ["alice_client", "bob_client"])
def test_it_shows_any_member_the_balance_and_what_is_in_flight(request, funded, who):
    response = request.getfixturevalue(who).get(BALANCE_URL)

    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "billing_enabled": True,
        "balance": "40.0000",
        "reserved_in_flight": "10.0000",
    }


def test_it_shows_an_outsider_only_his_own_balance(funded, charlie_client):
    response = charlie_client.get(BALANCE_URL)

    assert response.json()["balance"] == "3.0000"
    assert response.json()["reserved_in_flight"] == "0.0000"


def test_it_says_when_billing_is_off(billing_on, alice_client):
    billing_on.BILLING_ENABLED = False

    body = alice_client.get(BALANCE_URL).json()

    assert (body["billing_enabled"], body["balance"]) == (False, "0.0000")


def test_it_refuses_the_balance_to_anonymous_callers(anon):
    assert_error(anon.get(BALANCE_URL), 401)


def test_it_lists_the_ledger_newest_first(funded, bob_client):
    response = bob_client.get(LEDGER_URL)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    reserve, top_up = body["results"]
    assert (reserve["kind"], reserve["amount"], reserve["balance_after"]) == (
        "reserve",
        "-10.0000",
        "40.0000",
    )
    assert reserve["campaign_id"] == str(Campaign.objects.get().pk)
    assert (top_up["kind"], top_up["note"], top_up["campaign_id"]) == ("top_up", "Invoice 1", None)


def test_it_shows_an_outsider_only_his_own_ledger(funded, charlie_client):
    body = charlie_client.get(LEDGER_URL).json()

    assert [(e["kind"], e["amount"]) for e in body["results"]] == [("top_up", "3.0000")]
