"""The engine end to end in one process: accept -> dispatch -> a real local HTTP server
speaking Arkesel's API -> recorded outcomes; the sweep; delivery reports."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils.timezone import now

from mifumo.delivery import dispatch, services
from mifumo.delivery.models import (
    Campaign,
    CampaignStatus,
    Message,
    MessageStatus,
    ProviderAccount,
)
from mifumo.delivery.services import Recipient
from mifumo.delivery.tasks import probe_campaign, sweep
from tests.factories import create_contact

WEBHOOK_TOKEN = "arkesel-webhook-secret-for-tests"


@pytest.fixture
def arkesel(vendor, settings, monkeypatch):
    """The platform's Arkesel account pointed at the local stand-in."""
    settings.SMS_PROVIDER = "arkesel"
    settings.DELIVERY = {**settings.DELIVERY, "pause_after_failures": 3}
    monkeypatch.setenv("ARKESEL_BASE_URL", vendor.url)
    monkeypatch.setenv("ARKESEL_API_KEY", "test-key")
    monkeypatch.setenv("ARKESEL_SENDER_ID", "SHULE")
    monkeypatch.setenv("ARKESEL_WEBHOOK_SECRET", WEBHOOK_TOKEN)
    monkeypatch.delenv("ARKESEL_RATE_LIMIT", raising=False)
    return vendor


def accepted(vendor, numbers, start=1):
    vendor.reply(
        json={
            "status": "success",
            "data": [
                {"recipient": n.lstrip("+"), "id": f"ark-{i}"}
                for i, n in enumerate(sorted(numbers), start)
            ],
        }
    )


def numbers(count, start=0):
    return [f"+2557120000{index:02d}" for index in range(start, start + count)]


def accept(tenant, to, body="Habari mzazi", **kwargs):
    return services.campaign_accept(
        tenant=tenant, recipients=[Recipient(to=n, body=body) for n in to], **kwargs
    )


def statuses(campaign):
    return sorted(campaign.messages.values_list("status", flat=True))


def test_accepting_writes_one_message_per_distinct_recipient(
    tenant_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        campaign = accept(tenant_a, numbers(3) + numbers(1))
    assert campaign.total_messages == 3
    assert campaign.status == CampaignStatus.QUEUED
    assert campaign.messages.count() == 3
    assert len(callbacks) == 1  # dispatch queued once, after commit


def test_it_sends_one_request_for_many_recipients_and_records_each_outcome(tenant_a, arkesel):
    to = numbers(3)
    accepted(arkesel, to)
    campaign = accept(tenant_a, to)

    dispatch.dispatch(campaign.pk)

    assert len(arkesel.requests) == 1
    sent = arkesel.last.json()
    assert sorted(sent["recipients"]) == [n.lstrip("+") for n in to]
    assert sent["sender"] == "SHULE"
    assert sent["message"] == "Habari mzazi"
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED
    assert campaign.counters == {"sent": 3}
    assert set(campaign.messages.values_list("provider_message_id", flat=True)) == {
        "ark-1",
        "ark-2",
        "ark-3",
    }


def test_a_second_dispatch_of_the_same_campaign_sends_nothing_again(tenant_a, arkesel):
    to = numbers(2)
    accepted(arkesel, to)
    campaign = accept(tenant_a, to)
    dispatch.dispatch(campaign.pk)
    dispatch.dispatch(campaign.pk)  # a redelivered task
    assert len(arkesel.requests) == 1


def test_opted_out_and_blocked_recipients_never_reach_the_vendor(tenant_a, arkesel):
    opted_out = create_contact(tenant_a, phone="+255712000001")
    opted_out.opted_out_at = now()
    opted_out.save()
    accepted(arkesel, ["+255712000002"])
    campaign = services.campaign_accept(
        tenant=tenant_a,
        recipients=[
            Recipient(to="+255712000001", body="x", contact_id=opted_out.pk),
            Recipient(to="+255712000002", body="x"),
            Recipient(to="+254712000003", body="x"),  # Kenya: not allowed for this tenant
            Recipient(to="+881612345678", body="x"),  # satellite
        ],
    )
    dispatch.dispatch(campaign.pk)
    assert arkesel.last.json()["recipients"] == ["255712000002"]
    failed = dict(campaign.messages.filter(status="failed").values_list("to", "error_code"))
    assert failed == {
        "+255712000001": "opted_out",
        "+254712000003": "blocked_destination",
        "+881612345678": "blocked_destination",
    }


def test_a_429_puts_the_messages_back_for_after_retry_after_without_failing_them(tenant_a, arkesel):
    arkesel.reply(
        429, json={"status": "error", "message": "slow down"}, headers={"Retry-After": "30"}
    )
    campaign = accept(tenant_a, numbers(2))
    before = now()
    dispatch.dispatch(campaign.pk)
    messages = list(campaign.messages.all())
    assert {m.status for m in messages} == {MessageStatus.QUEUED}
    assert all(m.next_attempt_at >= before + timedelta(seconds=30) for m in messages)
    assert all(m.attempts == 0 for m in messages)  # the request's failure, not theirs


def test_a_vendor_outage_pauses_the_campaign_and_fails_nothing_then_it_resumes(
    tenant_a, arkesel, settings
):
    settings.DELIVERY = {
        **settings.DELIVERY,
        "retry_base_seconds": 0.0,
        "probe_interval_seconds": 0,
    }
    for _ in range(3):
        arkesel.reply(503, text="down")
    campaign = accept(tenant_a, numbers(2))
    for _ in range(3):
        dispatch.dispatch(campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED
    assert "503" in campaign.pause_reason
    assert statuses(campaign) == ["queued", "queued"]

    # The vendor is back: the probe (queued by the sweep) asks for the balance and resumes.
    arkesel.reply(
        json={"status": "success", "data": {"sms_balance": "100", "main_balance": "GHS 5"}}
    )
    probe_campaign(str(campaign.pk))
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENDING
    assert arkesel.last.path == "/api/v2/clients/balance-details"
    accepted(arkesel, numbers(2))
    dispatch.dispatch(campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED
    assert statuses(campaign) == ["sent", "sent"]


def test_a_paused_campaign_stays_paused_while_the_probe_fails(tenant_a, arkesel):
    arkesel.reply(402, json={"status": "error", "message": "Insufficient balance"})
    campaign = accept(tenant_a, numbers(1))
    dispatch.dispatch(campaign.pk)
    arkesel.reply(json={"status": "success", "data": {"sms_balance": "0", "main_balance": "GHS 0"}})
    probe_campaign(str(campaign.pk))
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED


def test_the_sweep_probes_a_paused_campaign_once_its_probe_is_due(tenant_a, arkesel):
    campaign = accept(tenant_a, numbers(1))
    due = now() - timedelta(seconds=1)
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.PAUSED, probe_at=due)
    sweep()
    campaign.refresh_from_db()
    assert campaign.probe_at > now()  # this sweep took the probe; a second one would not


def test_an_account_error_pauses_the_campaign_with_the_vendors_reason(tenant_a, arkesel):
    arkesel.reply(402, json={"status": "error", "message": "Insufficient balance"})
    campaign = accept(tenant_a, numbers(2))
    dispatch.dispatch(campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED
    assert "Insufficient balance" in campaign.pause_reason
    assert statuses(campaign) == ["queued", "queued"]


def test_a_request_whose_answer_never_came_is_unknown_and_never_resent(tenant_a, arkesel):
    arkesel.close_after_reading()
    campaign = accept(tenant_a, numbers(2))
    dispatch.dispatch(campaign.pk)
    dispatch.dispatch(campaign.pk)
    assert len(arkesel.requests) == 1
    assert statuses(campaign) == ["unknown", "unknown"]

    # The user decides to try them again.
    assert services.campaign_retry(campaign=campaign) == 2
    accepted(arkesel, numbers(2))
    dispatch.dispatch(campaign.pk)
    assert statuses(campaign) == ["sent", "sent"]


def test_the_sweep_requeues_a_dead_workers_messages_only_if_their_request_never_left(tenant_a):
    campaign = accept(tenant_a, numbers(2))
    long_ago = now() - timedelta(minutes=5)
    first, second = campaign.messages.order_by("to")
    Message.objects.filter(pk=first.pk).update(status="sending", lease_expires_at=long_ago)
    Message.objects.filter(pk=second.pk).update(
        status="sending", lease_expires_at=long_ago, request_sent_at=long_ago
    )
    services.reclaim_expired_leases()
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == MessageStatus.QUEUED
    assert second.status == MessageStatus.UNKNOWN
    assert second.error_code == "worker_lost"


def test_a_scheduled_campaign_waits_for_its_time(tenant_a, arkesel):
    campaign = accept(tenant_a, numbers(1), scheduled_at=now() + timedelta(hours=1))
    assert campaign.status == CampaignStatus.SCHEDULED
    assert services.release_due_campaigns() == []
    assert services.release_due_campaigns(now() + timedelta(hours=1, seconds=1)) == [campaign.pk]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.QUEUED


def test_two_schedulers_release_a_campaign_once(tenant_a):
    campaign = accept(tenant_a, numbers(1), scheduled_at=now() + timedelta(seconds=1))
    later = now() + timedelta(seconds=2)
    assert services.release_due_campaigns(later) == [campaign.pk]
    assert services.release_due_campaigns(later) == []


def test_a_cancelled_campaign_sends_nothing_more(tenant_a, arkesel):
    campaign = accept(tenant_a, numbers(3))
    assert services.campaign_cancel(campaign=campaign) == 3
    dispatch.dispatch(campaign.pk)
    assert arkesel.requests == []
    assert statuses(campaign) == ["cancelled"] * 3
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.CANCELLED


def test_the_rate_limit_spaces_requests_at_the_vendor(tenant_a, arkesel, monkeypatch):
    # 10/s: a request carries at most one second's worth (10), and the next one waits for
    # the slots the first one used.
    monkeypatch.setenv("ARKESEL_RATE_LIMIT", "10/s")
    to = numbers(12)
    accepted(arkesel, to)  # an answer listing every number fits either request
    accepted(arkesel, to, start=13)
    campaign = accept(tenant_a, to)
    started = now()
    dispatch.dispatch(campaign.pk)
    elapsed = (now() - started).total_seconds()
    assert [len(r.json()["recipients"]) for r in arkesel.requests] == [10, 2]
    assert elapsed >= 1.0
    assert statuses(campaign) == ["sent"] * 12


class TestDeliveryReports:
    def sent_campaign(self, tenant, vendor):
        accepted(vendor, numbers(2))
        campaign = accept(tenant, numbers(2))
        dispatch.dispatch(campaign.pk)
        return campaign

    def test_reports_move_messages_to_delivered_or_failed(self, client, tenant_a, arkesel):
        campaign = self.sent_campaign(tenant_a, arkesel)
        url = f"/api/messaging/webhooks/arkesel/?token={WEBHOOK_TOKEN}"
        assert client.get(url + "&sms_id=ark-1&status=DELIVERED").json()["applied"] == 1
        assert client.get(url + "&sms_id=ark-2&status=NOT_DELIVERED").json()["applied"] == 1
        assert dict(campaign.messages.values_list("provider_message_id", "status")) == {
            "ark-1": "delivered",
            "ark-2": "failed",
        }
        services.refresh_stale_counters()
        campaign.refresh_from_db()
        assert campaign.counters == {"delivered": 1, "failed": 1}

    def test_duplicate_and_unknown_reports_are_harmless(self, client, tenant_a, arkesel):
        campaign = self.sent_campaign(tenant_a, arkesel)
        url = f"/api/messaging/webhooks/arkesel/?token={WEBHOOK_TOKEN}"
        client.get(url + "&sms_id=ark-1&status=DELIVERED")
        assert client.get(url + "&sms_id=ark-1&status=DELIVERED").json()["applied"] == 0
        assert client.get(url + "&sms_id=nobody&status=DELIVERED").status_code == 200
        # A late "failed" never undoes "delivered".
        assert client.get(url + "&sms_id=ark-1&status=EXPIRED").json()["applied"] == 0
        assert campaign.messages.get(provider_message_id="ark-1").status == "delivered"

    def test_a_wrong_or_missing_token_is_refused(self, client, tenant_a, arkesel):
        self.sent_campaign(tenant_a, arkesel)
        for url in [
            "/api/messaging/webhooks/arkesel/?sms_id=ark-1&status=DELIVERED",
            "/api/messaging/webhooks/arkesel/?token=guess&sms_id=ark-1&status=DELIVERED",
        ]:
            response = client.get(url)
            assert response.status_code == 401
            assert response.json()["success"] is False

    def test_an_unreadable_report_is_a_400(self, client, tenant_a, arkesel):
        response = client.get(f"/api/messaging/webhooks/arkesel/?token={WEBHOOK_TOKEN}")
        assert response.status_code == 400

    def test_an_unknown_provider_is_a_404(self, client, db):
        assert client.post("/api/messaging/webhooks/nobody/?token=x").status_code == 404


def test_an_account_that_fails_moves_its_campaign_to_the_fallback_account(tenant_a, vendor):
    from tests.delivery.conftest import FakeVendor

    spare = FakeVendor()
    try:
        fallback = ProviderAccount.objects.create(
            tenant=tenant_a, provider="arkesel", name="spare", base_url=spare.url, api_key="k2"
        )
        primary = ProviderAccount.objects.create(
            tenant=tenant_a,
            provider="arkesel",
            name="main",
            base_url=vendor.url,
            api_key="k1",
            fallback=fallback,
        )
        vendor.reply(401, json={"status": "error", "message": "Invalid API key"})
        accepted(spare, numbers(2))
        campaign = accept(tenant_a, numbers(2), provider_account=primary)

        outcome = dispatch.dispatch(campaign.pk)
        assert outcome.requeue_in == 0.0
        dispatch.dispatch(campaign.pk)

        campaign.refresh_from_db()
        assert campaign.provider_account == fallback
        assert campaign.status == CampaignStatus.COMPLETED
        assert statuses(campaign) == ["sent", "sent"]
        assert spare.last.headers["api-key"] == "k2"
    finally:
        spare.stop()
