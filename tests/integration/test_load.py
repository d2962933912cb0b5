"""The load bench (bench/load.py) in small: mixed API traffic from locust against `mifumo web`
(gunicorn) for 15 s while a 5,000-message campaign sends through a real worker and the
simulator, on the run's PostgreSQL and Redis. No request may get a 5xx; the campaign keeps
sending meanwhile, sending nothing twice."""

from __future__ import annotations

import os

import pytest

from bench.load import LoadRun, measure, print_figures
from mifumo.delivery.models import MessageStatus
from tests.integration.conftest import scale_out_env

pytestmark = [
    pytest.mark.integration,
    pytest.mark.serial,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="measures the scale-out deployment: the PostgreSQL pass of CI runs it",
    ),
]

SECONDS, MESSAGES, USERS = 15, 5_000, 8


@pytest.mark.timeout(600)
def test_mixed_api_traffic_during_a_campaign_gets_no_5xx_and_the_campaign_sends_once(tmp_path):
    with LoadRun(scale_out_env(), tmp_path, web_workers=2) as run:
        run.start(worker_concurrency=2)
        run.seed(contacts=MESSAGES, users=USERS)
        figures = measure(run, seconds=SECONDS, users=USERS, messages=MESSAGES)
        print_figures(figures, seconds=SECONDS, users=USERS, messages=MESSAGES)

        results = figures["results"]
        assert figures["unexpected_5xx"] == 0, results
        assert sum(entry["failures"] for entry in results.values()) == 0, results
        # The most frequent kinds of request were all made (rarer ones may not be, in 15 s).
        assert {"contacts list", "contacts search", "sms estimate"} <= set(results)
        assert figures["sent_during"] > 0, "the campaign stood still during the traffic"

        # Whatever it reached meanwhile, nothing was lost, refused or sent twice. (Its end is
        # not awaited: the fault tests prove campaigns finish; on a loaded machine delivery
        # reports make this one take minutes.)
        counts = figures["campaign_counts"]
        assert sum(counts.values()) == MESSAGES
        assert MessageStatus.FAILED not in counts, counts
        assert figures["duplicate_messages"] == 0
        assert figures["delivery_reports"]["failed"] == 0
