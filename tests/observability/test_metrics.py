"""/metrics: Prometheus' text format, for a token or local addresses only, with counters that
move as requests are served, campaigns are sent and contacts imported."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mifumo.delivery import dispatch
from tests.communications.conftest import arkesel, arkesel_accepts, send_all

__all__ = ["arkesel"]  # the fixture, imported to be used here

URL = "/metrics"


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    response = client.get(URL, REMOTE_ADDR="127.0.0.1", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_only_local_addresses_may_read_the_metrics_by_default(client, db):
    assert client.get(URL, REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get(URL, REMOTE_ADDR="::1").status_code == 200
    assert client.get(URL, REMOTE_ADDR="10.1.2.3").status_code == 403


def test_with_a_token_only_its_bearer_may_read_them(client, settings, db):
    settings.METRICS_TOKEN = "scrape-token-0123456789"
    assert client.get(URL, REMOTE_ADDR="127.0.0.1").status_code == 403
    wrong = client.get(URL, REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 403
    right = client.get(
        URL, REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer scrape-token-0123456789"
    )
    assert right.status_code == 200


def test_local_only_can_be_switched_off(client, settings, db):
    settings.METRICS_LOCAL_ONLY = False
    assert client.get(URL, REMOTE_ADDR="10.1.2.3").status_code == 200


def test_requests_are_counted_by_route_and_status(client, alice_client, db):
    before = scrape(client)
    alice_client.get("/api/messaging/contacts/")
    alice_client.get("/api/messaging/contacts/00000000-0000-0000-0000-000000000000/")
    after = scrape(client)

    def grew(route, status):
        labels = {"method": "GET", "route": route, "status": status}
        return value(after, "mifumo_http_requests_total", **labels) - value(
            before, "mifumo_http_requests_total", **labels
        )

    assert grew("/api/messaging/contacts/", "200") == 1
    assert grew("/api/messaging/contacts/<pk>/", "404") == 1
    # One series per route pattern, not one per contact id.
    assert not [k for k in after if "00000000-0000" in str(k)]


def test_messages_and_vendor_requests_are_counted_as_a_campaign_is_sent(
    client, alice_client, tenant_a, arkesel, monkeypatch
):
    monkeypatch.setenv("ARKESEL_RATE_LIMIT", "6000/m")
    phones = [f"+2557120004{index:02d}" for index in range(3)]
    before = scrape(client)
    arkesel.reply(503, text="maintenance")  # the first request fails: retried later
    arkesel_accepts(arkesel, phones)
    response = alice_client.post(
        "/api/messaging/sms/bulk-send/",
        {"contacts": [{"phone": p} for p in phones], "message": "Habari", "sender_id": "SHULE"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert value(scrape(client), "mifumo_messages_waiting", status="queued") == 3
    send_all(response.json()["campaign_id"])
    after = scrape(client)

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("mifumo_messages_total", status="sent", provider="arkesel") == 3
    assert grew("mifumo_messages_total", status="retry", provider="arkesel") == 3
    assert grew("mifumo_vendor_errors_total", provider="arkesel", code="503") == 1
    assert grew("mifumo_vendor_request_seconds_count", provider="arkesel") == 2
    assert grew("mifumo_rate_limit_wait_seconds_count") >= 2
    assert value(after, "mifumo_messages_waiting", status="queued") == 0
    assert ("mifumo_queue_depth", (("queue", "celery"),)) in after


def test_imported_rows_are_counted(client, alice_client, tenant_a):
    before = value(scrape(client), "mifumo_import_rows_total")
    response = alice_client.post(
        "/api/messaging/contacts/bulk-import/",
        {"import_type": "csv", "csv_data": "phone\n0712000501\n0712000502\n0712000503\n"},
        format="json",
    )
    assert response.status_code == 201, response.content
    after = scrape(client)
    assert value(after, "mifumo_import_rows_total") - before == 3
    assert value(after, "mifumo_import_seconds_total") > 0


COUNT_IN_ANOTHER_PROCESS = textwrap.dedent(
    """
    import sys, django
    django.setup()
    from mifumo.observability import metrics
    metrics.count_messages("beem", ["sent"] * int(sys.argv[1]))
    """
)


def test_counters_from_several_processes_are_added_up(client, settings, tmp_path, db):
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mifumo.settings",
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
    }
    for count in (2, 5):
        subprocess.run(
            [sys.executable, "-c", COUNT_IN_ANOTHER_PROCESS, str(count)],
            env=env,
            check=True,
            timeout=60,
        )
    assert len(list(directory.glob("counter_*.db"))) == 2  # one file per process
    settings.PROMETHEUS_MULTIPROC_DIR = str(directory)
    samples = scrape(client)
    assert value(samples, "mifumo_messages_total", status="sent", provider="beem") == 7


def test_a_dispatch_of_nothing_counts_nothing(client, db):
    before = scrape(client)
    dispatch.dispatch("00000000-0000-0000-0000-000000000000")
    after = scrape(client)
    assert {k: v for k, v in after.items() if k[0] == "mifumo_messages_total"} == {
        k: v for k, v in before.items() if k[0] == "mifumo_messages_total"
    }


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_metrics_are_read_only(client, method):
    response = getattr(client, method)(URL, REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 405
