"""The delivery engine with real parts, when nothing goes wrong: the simulator standing in for
Arkesel, `mifumo worker` processes on the real broker, `mifumo scheduler`, and `mifumo web`
receiving delivery reports. The same stack under faults (workers killed, Redis and PostgreSQL
restarted, the vendor failing, down or slow) is in tests/faults/."""

from __future__ import annotations

import httpx
import pytest
from django.db import transaction

from mifumo.delivery import services
from mifumo.delivery.models import Campaign, CampaignStatus, MessageStatus
from mifumo.delivery.services import Recipient
from tests.factories import create_tenant
from tests.integration.conftest import wait_until
from tests.integration.stack import accept, pending, stack

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_campaign_is_sent_once_to_everyone_and_delivery_reports_come_back(tmp_path):
    tenant = create_tenant()
    with stack(tmp_path, web=True) as running:
        running.start_worker()
        running.start_worker()
        campaign = accept(tenant, 300)
        wait_until(
            lambda: campaign.messages.filter(status=MessageStatus.DELIVERED).count() == 300,
            90,
            "not every message was delivered",
        )
        stats = running.stats()
        assert stats["messages"] == 300
        assert stats["unique_recipients"] == 300
        assert stats["duplicate_messages"] == 0
        wait_until(
            lambda: Campaign.objects.get(pk=campaign.pk).counters == {"delivered": 300},
            30,
            "the counters never caught up with the delivery reports",
        )
        assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.COMPLETED


def test_a_small_campaign_is_not_stuck_behind_a_big_one(tmp_path):
    big_sender, small_sender = create_tenant("Big NGO"), create_tenant("Small School")
    with stack(tmp_path, latency_ms=150) as running:
        running.start_worker()  # one worker: the two campaigns must take turns
        big = accept(big_sender, 4_000)
        wait_until(lambda: running.stats()["messages"] > 0, 60, "the big campaign never started")
        with transaction.atomic():
            small = services.campaign_accept(
                tenant=small_sender,
                recipients=[Recipient(to=f"+2556{i:08d}", body="Kikao kesho") for i in range(20)],
            )
        wait_until(lambda: pending(small) == 0, 60, "the small campaign waited too long")
        assert pending(big) > 0, "the big campaign finished first: nothing was shown"


def test_a_bulk_send_through_the_api_reaches_every_parent_personalised(tmp_path):
    """The whole path: POST /api/messaging/sms/bulk-send/ to `mifumo web`, a worker sends
    through the Arkesel simulator, delivery reports come back, a retry with the same
    Idempotency-Key sends nothing more."""
    from rest_framework_simplejwt.tokens import AccessToken

    from tests.factories import create_user

    tenant = create_tenant()
    user = create_user(tenant)
    with stack(tmp_path, web=True) as running:
        running.start_worker()
        body = {
            "contacts": [
                {"phone": f"07{index:08d}", "name": f"Mzazi {index}"} for index in range(1, 201)
            ],
            "message": "Habari {{name}}, kikao ni Jumamosi.",
            "sender_id": "SHULE",
        }
        headers = {"Authorization": f"Bearer {AccessToken.for_user(user)}", "Idempotency-Key": "a1"}
        url = f"{running.web_url}/api/messaging/sms/bulk-send/"
        response = httpx.post(url, json=body, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["successful_contacts"] == 200
        campaign = Campaign.objects.get(pk=response.json()["campaign_id"])
        wait_until(
            lambda: campaign.messages.filter(status=MessageStatus.DELIVERED).count() == 200,
            90,
            "not every message was delivered",
        )
        again = httpx.post(url, json=body, headers=headers, timeout=30)
        assert again.json() == response.json()
        received = httpx.get(
            f"{running.sim_url}/_simulator/messages?limit=1000", timeout=10
        ).json()["results"]
        texts = {message["recipient"].lstrip("+"): message["text"] for message in received}
        assert len(received) == 200
        assert texts["255700000007"] == "Habari Mzazi 7, kikao ni Jumamosi."
        assert {message["sender"] for message in received} == {"SHULE"}
