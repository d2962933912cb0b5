"""The delivery engine with real parts: the simulator standing in for Arkesel, `mifumo worker`
processes on the real broker, `mifumo scheduler`, and `mifumo web` receiving delivery reports.
Timings are shortened through the engine's own settings so faults heal within seconds."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from django.db import transaction

from mifumo.delivery import services
from mifumo.delivery.models import Campaign, CampaignStatus, MessageStatus
from mifumo.delivery.services import Recipient
from tests.factories import create_tenant
from tests.integration.conftest import (
    MIFUMO,
    free_port,
    restart_postgres,
    restart_redis,
    scale_out_env,
    start_process,
    stop_process,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WEBHOOK_SECRET = "integration-webhook-secret"


def _get(url: str):
    try:
        return httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return None


class Stack:
    def __init__(
        self, tmp_path, *, latency_ms: int = 0, web: bool = False, faults: tuple = ()
    ) -> None:
        self.tmp_path = tmp_path
        self.processes: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []
        self.sim_url = f"http://127.0.0.1:{free_port()}"
        self.web_url = f"http://127.0.0.1:{free_port()}" if web else ""
        self.env = scale_out_env(
            SMS_PROVIDER="arkesel",
            ARKESEL_BASE_URL=self.sim_url,
            ARKESEL_API_KEY="integration",
            ARKESEL_SENDER_ID="SHULE",
            ARKESEL_WEBHOOK_SECRET=WEBHOOK_SECRET,
            MIFUMO_PUBLIC_URL=self.web_url,
            MIFUMO_DISPATCH_BATCH="100",
            MIFUMO_DISPATCH_TIME_BUDGET="2",
            MIFUMO_DISPATCH_LEASE_SECONDS="6",
            MIFUMO_DISPATCH_IDLE_SECONDS="3",
            MIFUMO_PROBE_SECONDS="2",
            CELERY_TASK_SOFT_TIME_LIMIT="5",
            CELERY_VISIBILITY_TIMEOUT="20",
        )
        port = self.sim_url.rsplit(":", 1)[1]
        self._start(
            [
                *MIFUMO,
                "simulator",
                "--port",
                port,
                "--latency-ms",
                str(latency_ms),
                "--dlr-delay-ms",
                "200",
                *faults,
            ],
            "simulator",
        )
        wait_until(lambda: _get(f"{self.sim_url}/_simulator/health"), 30, "no simulator")
        if web:
            self._start(
                [*MIFUMO, "web", "--port", self.web_url.rsplit(":", 1)[1], "--workers", "1"], "web"
            )
            wait_until(lambda: _get(f"{self.web_url}/healthz"), 30, "no web server")
        self._start([*MIFUMO, "scheduler"], "scheduler")

    def _start(self, argv, name) -> subprocess.Popen:
        process = start_process(argv, self.tmp_path / f"{name}-{len(self.processes)}.log", self.env)
        self.processes.append(process)
        return process

    def start_worker(self) -> subprocess.Popen:
        worker = self._start(
            [*MIFUMO, "worker", "--concurrency", "1", "--without-gossip", "--without-mingle"],
            "worker",
        )
        self.workers.append(worker)
        return worker

    def kill_worker(self, worker: subprocess.Popen) -> None:
        """SIGKILL the worker and its pool children: nothing gets to clean up."""
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)

    def stats(self) -> dict:
        return httpx.get(f"{self.sim_url}/_simulator/stats", timeout=10).json()

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop_process(process)


@contextmanager
def stack(tmp_path, **options) -> Iterator[Stack]:
    running = Stack(tmp_path, **options)
    try:
        yield running
    finally:
        running.stop()


def accept(tenant, count: int):
    with transaction.atomic():
        campaign = services.campaign_accept(
            tenant=tenant,
            recipients=[
                Recipient(to=f"+2557{index:08d}", body="Habari mzazi") for index in range(count)
            ],
        )
    return campaign


def pending(campaign) -> int:
    return campaign.messages.filter(
        status__in=[MessageStatus.QUEUED, MessageStatus.SENDING]
    ).count()


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


def test_workers_killed_three_times_lose_nothing_and_send_nothing_twice(tmp_path):
    tenant = create_tenant()
    with stack(tmp_path, latency_ms=60) as running:
        worker = running.start_worker()
        campaign = accept(tenant, 10_000)
        started = time.monotonic()
        for _ in range(3):
            # Let it send for a while, then pull the plug mid-request.
            wait_until(lambda: running.stats()["messages"] > 0, 60, "nothing was sent")
            time.sleep(2.5)
            running.kill_worker(worker)
            worker = running.start_worker()
        wait_until(lambda: pending(campaign) == 0, 240, "messages were left behind")
        recovered_after = time.monotonic() - started

        stats = running.stats()
        statuses = services.campaign_counts(campaign.pk)
        print(f"10,000 messages, 3 SIGKILLs: done after {recovered_after:.0f}s; {statuses}")
        assert stats["duplicate_messages"] == 0, stats["duplicates"]
        assert sum(statuses.values()) == 10_000
        assert set(statuses) <= {MessageStatus.SENT, MessageStatus.UNKNOWN}
        # Everything marked sent was received; the unknown ones were in flight at a kill.
        assert statuses.get(MessageStatus.SENT, 0) <= stats["unique_recipients"]
        assert statuses.get(MessageStatus.UNKNOWN, 0) <= 3 * 100
        wait_until(
            lambda: Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.COMPLETED,
            30,
            "the campaign never completed",
        )


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


def test_429s_and_500s_from_the_vendor_are_retried_until_everyone_has_it_once(tmp_path):
    tenant = create_tenant()
    faults = ("--rate-429", "0.3", "--retry-after", "1", "--failure-rate", "0.2", "--seed", "7")
    with stack(tmp_path, faults=faults) as running:
        running.start_worker()
        campaign = accept(tenant, 300)
        wait_until(lambda: pending(campaign) == 0, 120, "messages were left behind")
        stats = running.stats()
        assert services.campaign_counts(campaign.pk) == {"sent": 300}
        assert stats["unique_recipients"] == 300
        assert stats["duplicate_messages"] == 0
        refused = stats["requests"]["arkesel"]["send"]
        assert refused.get("429", 0) > 0 and refused.get("500", 0) > 0  # the faults happened


def test_a_vendor_outage_pauses_the_campaign_and_it_resumes_by_itself(tmp_path):
    tenant = create_tenant()
    with stack(tmp_path) as running:
        running.start_worker()
        httpx.post(f"{running.sim_url}/_simulator/config", json={"down": True}, timeout=5)
        campaign = accept(tenant, 200)
        wait_until(
            lambda: Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.PAUSED,
            60,
            "the campaign did not pause during the outage",
        )
        assert services.campaign_counts(campaign.pk) == {"queued": 200}  # nothing failed
        httpx.post(f"{running.sim_url}/_simulator/config", json={"down": False}, timeout=5)
        wait_until(lambda: pending(campaign) == 0, 90, "the campaign did not resume")
        assert services.campaign_counts(campaign.pk) == {"sent": 200}
        assert running.stats()["duplicate_messages"] == 0


def send_through_a_restart(tmp_path, restart) -> tuple[dict, dict]:
    """3,000 messages with `restart()` one second into the sending; the messages per status
    and the simulator's stats once nothing is left to send."""
    tenant = create_tenant()
    with stack(tmp_path, latency_ms=60) as running:
        running.start_worker()
        campaign = accept(tenant, 3_000)
        wait_until(lambda: running.stats()["messages"] > 0, 60, "nothing was sent")
        time.sleep(1)
        restart()
        wait_until(lambda: pending(campaign) == 0, 180, "messages were left behind")
        return services.campaign_counts(campaign.pk), running.stats()


def test_a_redis_restart_mid_campaign_loses_nothing_and_sends_nothing_twice(tmp_path):
    counts, stats = send_through_a_restart(tmp_path, restart_redis)
    assert sum(counts.values()) == 3_000
    assert set(counts) <= {MessageStatus.SENT, MessageStatus.UNKNOWN}
    assert stats["duplicate_messages"] == 0


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="restarts the machine's PostgreSQL: the PostgreSQL pass of CI runs it",
)
def test_a_postgresql_restart_mid_campaign_loses_nothing_and_sends_nothing_twice(tmp_path):
    """Workers and the scheduler lose every connection at once, mid-send; messages whose
    outcome was not written before the cut come back as unknown (never re-sent), and the
    rest of the campaign goes out once the database is back."""
    counts, stats = send_through_a_restart(tmp_path, restart_postgres)
    assert sum(counts.values()) == 3_000
    assert set(counts) <= {MessageStatus.SENT, MessageStatus.UNKNOWN}
    assert counts.get(MessageStatus.SENT, 0) >= 2_000
    assert stats["duplicate_messages"] == 0
    # Every message recorded as sent reached the vendor; an unknown one may or may not have.
    sent, unknown = counts.get(MessageStatus.SENT, 0), counts.get(MessageStatus.UNKNOWN, 0)
    assert sent <= stats["messages"] <= sent + unknown


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
