"""Campaigns sent through faults, on the real stack: workers killed with SIGKILL, Redis and
PostgreSQL restarted, the vendor refusing (429, 500), down for a minute, or accepting a request
and answering too late. For each: no message is lost (every one ends in a state the user sees),
none is sent twice (the simulator counts what it received), and the time to recover is
printed (tests/faults/conftest.py).

The Redis and PostgreSQL restarts cut every test's connections: they are marked `serial`, and
scripts/test runs them after the parallel step, one at a time. The others fault only their
own stack (its workers, its simulator) and spend most of their time waiting: they run in the
parallel step, beside the rest of the suite."""

from __future__ import annotations

import os
import time

import pytest

from mifumo.delivery import services
from mifumo.delivery.models import Campaign, CampaignStatus, MessageStatus
from tests.factories import create_tenant
from tests.faults.conftest import baseline_rate, recovered_after
from tests.integration.conftest import restart_postgres, restart_redis, wait_until
from tests.integration.stack import Stack, accept, pending, stack

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TERMINAL = {MessageStatus.SENT, MessageStatus.UNKNOWN}
ON_POSTGRESQL = os.environ.get("DATABASE_URL", "").startswith("postgres")
# The two long vendor faults (a minute's outage, a 15 s read timeout) exercise engine code that
# is the same on either database: the PostgreSQL pass runs them, which keeps CI under 20 min.
postgresql_pass_only = pytest.mark.skipif(
    not ON_POSTGRESQL, reason="a long vendor fault: the PostgreSQL pass of CI runs it"
)


def received_at(running: Stack) -> list[float]:
    return [message["received_at"] for message in running.received()]


def settle(campaign, ended: float, timeout: float) -> float:
    """Wait until nothing of the campaign is queued or sending; seconds since `ended`."""
    wait_until(lambda: pending(campaign) == 0, timeout, "messages were left behind")
    return time.time() - ended


def test_workers_killed_three_times_lose_nothing_and_send_nothing_twice(tmp_path, record_recovery):
    tenant = create_tenant()
    with stack(tmp_path, latency_ms=60) as running:
        worker = running.start_worker()
        campaign = accept(tenant, 10_000)
        wait_until(lambda: running.stats()["messages"] > 0, 60, "nothing was sent")
        kills = []
        for _ in range(3):
            # Let it send for a while, then pull the plug mid-request; a supervisor starts a
            # new worker at once.
            time.sleep(2.5)
            kills.append(time.time())
            running.kill_worker(worker)
            worker = running.start_worker()
            # The killed worker's last request may still reach the vendor: wait for more.
            floor = running.stats()["messages"] + 150
            wait_until(
                lambda floor=floor: running.stats()["messages"] > floor or not pending(campaign),
                90,
                "the new worker never sent anything",
            )
        settled = settle(campaign, kills[-1], 240)

        stats = running.stats()
        statuses = services.campaign_counts(campaign.pk)
        assert stats["duplicate_messages"] == 0, stats["duplicates"]
        assert sum(statuses.values()) == 10_000
        assert set(statuses) <= TERMINAL
        # Everything marked sent was received; the unknown ones were in flight at a kill.
        assert statuses.get(MessageStatus.SENT, 0) <= stats["unique_recipients"]
        assert statuses.get(MessageStatus.UNKNOWN, 0) <= 3 * 100
        wait_until(
            lambda: Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.COMPLETED,
            30,
            "the campaign never completed",
        )
        moments = received_at(running)
        baseline = baseline_rate(moments, before=kills[0])
        each = [recovered_after(moments, baseline=baseline, ended=kill) for kill in kills]
        record_recovery(
            fault="3 workers killed with SIGKILL (10,000 msgs)",
            recovered=max(seconds for seconds in each if seconds is not None),
            settled=settled,
            each_kill=[round(s, 1) if s is not None else None for s in each],
            statuses=statuses,
        )


def test_429s_and_500s_from_the_vendor_are_retried_until_everyone_has_it_once(
    tmp_path, record_recovery
):
    tenant = create_tenant()
    faults = ("--rate-429", "0.3", "--retry-after", "1", "--failure-rate", "0.2", "--seed", "7")
    with stack(tmp_path, faults=faults) as running:
        running.start_worker()
        started = time.time()
        campaign = accept(tenant, 300)
        settled = settle(campaign, started, 120)
        stats = running.stats()
        assert services.campaign_counts(campaign.pk) == {"sent": 300}
        assert stats["unique_recipients"] == 300
        assert stats["duplicate_messages"] == 0
        refused = stats["requests"]["arkesel"]["send"]
        assert refused.get("429", 0) > 0 and refused.get("500", 0) > 0  # the faults happened
        # The faults last the whole campaign: there is no "after" to recover in.
        record_recovery(
            fault="vendor 30% 429s + 20% 500s (300 msgs)",
            recovered="-",
            settled=settled,
            refused=refused,
        )


def test_a_vendor_outage_pauses_the_campaign_and_it_resumes_by_itself(tmp_path):
    tenant = create_tenant()
    with stack(tmp_path) as running:
        running.start_worker()
        running.configure(down=True)
        campaign = accept(tenant, 200)
        wait_until(
            lambda: Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.PAUSED,
            60,
            "the campaign did not pause during the outage",
        )
        assert services.campaign_counts(campaign.pk) == {"queued": 200}  # nothing failed
        running.configure(down=False)
        wait_until(lambda: pending(campaign) == 0, 90, "the campaign did not resume")
        assert services.campaign_counts(campaign.pk) == {"sent": 200}
        assert running.stats()["duplicate_messages"] == 0


@postgresql_pass_only
def test_a_vendor_down_for_a_minute_mid_campaign_loses_nothing_and_sends_nothing_twice(
    tmp_path, record_recovery
):
    """Every endpoint answers 503 for 60 s: the campaign pauses after a few failed requests
    (it does not spend its messages' attempts), probes the vendor every 2 s, and resumes by
    itself when the vendor is back."""
    tenant = create_tenant()
    with stack(tmp_path, latency_ms=60) as running:
        running.start_worker()
        campaign = accept(tenant, 3_000)
        wait_until(lambda: running.stats()["messages"] >= 300, 60, "nothing was sent")
        running.configure(down_for=60)
        started = time.time()
        ended = started + 60
        wait_until(
            lambda: Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.PAUSED,
            30,
            "the campaign did not pause during the outage",
        )
        during = services.campaign_counts(campaign.pk)
        assert set(during) <= {MessageStatus.SENT, MessageStatus.QUEUED}, during
        assert during.get(MessageStatus.QUEUED, 0) > 0, "the outage came too late to matter"
        time.sleep(max(0.0, ended - time.time()))
        settled = settle(campaign, ended, 120)

        stats = running.stats()
        assert services.campaign_counts(campaign.pk) == {"sent": 3_000}
        assert stats["unique_recipients"] == 3_000
        assert stats["duplicate_messages"] == 0
        assert stats["requests"]["arkesel"]["send"].get("503", 0) > 0  # the outage happened
        moments = received_at(running)
        assert not [t for t in moments if started + 0.5 < t < ended - 0.5]  # nothing got in
        record_recovery(
            fault="vendor down (503) for 60 s (3,000 msgs)",
            recovered=recovered_after(
                moments, baseline=baseline_rate(moments, before=started), ended=ended
            ),
            settled=settled,
            refused_503=stats["requests"]["arkesel"]["send"]["503"],
        )


@postgresql_pass_only
def test_a_vendor_answering_too_late_leaves_its_messages_unknown_never_sent_twice(
    tmp_path, record_recovery
):
    """The vendor records a request, then answers after 20 s, past the adapter's 15 s read
    timeout. The worker cannot know whether those messages left: they end `unknown` (the
    user may retry them), never resent by the engine; the rest of the campaign goes out once.

    The lease and Celery's time limits are longer here than in the other tests, as they are in
    production (90 s, 30 s), so it is the HTTP read timeout that ends the wait."""
    tenant = create_tenant()
    slow = {
        "MIFUMO_DISPATCH_LEASE_SECONDS": "30",
        "CELERY_TASK_SOFT_TIME_LIMIT": "30",
        "CELERY_VISIBILITY_TIMEOUT": "45",
    }
    with stack(tmp_path, latency_ms=20, env=slow) as running:
        running.start_worker()
        campaign = accept(tenant, 3_000)
        wait_until(lambda: running.stats()["messages"] >= 300, 60, "nothing was sent")
        running.configure(latency_ms=20_000)
        started = time.time()
        before = running.stats()["messages"]
        # A request recorded from now on is answered 20 s later: wait for one, then the
        # vendor is quick again (the answer already waiting stays late).
        wait_until(lambda: running.stats()["messages"] > before, 30, "no request came in")
        running.configure(latency_ms=20)
        ended = time.time()
        settled = settle(campaign, ended, 120)

        stats = running.stats()
        counts = services.campaign_counts(campaign.pk)
        unknown = campaign.messages.filter(status=MessageStatus.UNKNOWN)
        assert set(counts) == TERMINAL, counts
        assert sum(counts.values()) == 3_000
        # One request (100 messages), or two if one was recorded just before the change.
        assert 100 <= counts[MessageStatus.UNKNOWN] <= 200
        assert set(unknown.values_list("error_code", flat=True)) == {"no_answer"}
        # The vendor did receive them, once each, as it did every other message.
        assert stats["messages"] == stats["unique_recipients"] == 3_000
        assert stats["duplicate_messages"] == 0
        record_recovery(
            fault="vendor answers after the 15 s read timeout",
            recovered=recovered_after(
                (moments := received_at(running)),
                baseline=baseline_rate(moments, before=started),
                ended=ended,
            ),
            settled=settled,
            unknown=counts[MessageStatus.UNKNOWN],
        )


def send_through_a_restart(tmp_path, restart, record_recovery, fault: str) -> tuple[dict, dict]:
    """3,000 messages with `restart()` one second into the sending; the messages per status
    and the simulator's stats once nothing is left to send."""
    tenant = create_tenant()
    with stack(tmp_path, latency_ms=60) as running:
        running.start_worker()
        campaign = accept(tenant, 3_000)
        wait_until(lambda: running.stats()["messages"] > 0, 60, "nothing was sent")
        time.sleep(1)
        started = time.time()
        restart()
        ended = time.time()
        settled = settle(campaign, ended, 180)
        counts, stats = services.campaign_counts(campaign.pk), running.stats()
        moments = received_at(running)
        record_recovery(
            fault=fault,
            recovered=recovered_after(
                moments, baseline=baseline_rate(moments, before=started), ended=ended
            ),
            settled=settled,
            down=ended - started,
            statuses=counts,
        )
        return counts, stats


@pytest.mark.serial
def test_a_redis_restart_mid_campaign_loses_nothing_and_sends_nothing_twice(
    tmp_path, record_recovery
):
    counts, stats = send_through_a_restart(
        tmp_path, restart_redis, record_recovery, "Redis restarted (3,000 msgs)"
    )
    assert sum(counts.values()) == 3_000
    assert set(counts) <= TERMINAL
    assert stats["duplicate_messages"] == 0


@pytest.mark.serial
@pytest.mark.skipif(
    not ON_POSTGRESQL,
    reason="restarts the run's PostgreSQL server: the PostgreSQL pass of CI runs it",
)
def test_a_postgresql_restart_mid_campaign_loses_nothing_and_sends_nothing_twice(
    tmp_path, record_recovery
):
    """Workers and the scheduler lose every connection at once, mid-send; messages whose
    outcome was not written before the cut come back as unknown (never re-sent), and the
    rest of the campaign goes out once the database is back."""
    counts, stats = send_through_a_restart(
        tmp_path, restart_postgres, record_recovery, "PostgreSQL restarted, down 2 s (3,000 msgs)"
    )
    assert sum(counts.values()) == 3_000
    assert set(counts) <= TERMINAL
    assert counts.get(MessageStatus.SENT, 0) >= 2_000
    assert stats["duplicate_messages"] == 0
    # Every message recorded as sent reached the vendor; an unknown one may or may not have.
    sent, unknown = counts.get(MessageStatus.SENT, 0), counts.get(MessageStatus.UNKNOWN, 0)
    assert sent <= stats["messages"] <= sent + unknown
