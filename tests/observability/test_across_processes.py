"""Real processes: `mifumo web`, two `mifumo worker`s one after the other, and the simulator for
Arkesel. The counters on /metrics add up what both workers did, and one bulk send's request id
is on the web's log line and on the workers' lines for the same send."""

from __future__ import annotations

import json
import subprocess
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mifumo.delivery.models import Campaign, MessageStatus
from tests.integration.conftest import (
    MIFUMO,
    free_port,
    scale_out_env,
    start_process,
    stop_process,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TOKEN = "metrics-token-for-the-test-0123456789"
PER_CAMPAIGN = 150


def _get(url: str):
    try:
        return httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return None


def metrics(web_url: str) -> dict[tuple[str, tuple], float]:
    response = httpx.get(
        f"{web_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def sent_total(samples) -> float:
    return samples.get(
        ("mifumo_messages_total", (("provider", "arkesel"), ("status", "sent"))), 0.0
    )


def json_lines(path) -> list[dict]:
    lines = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


@pytest.fixture
def running(tmp_path):
    processes: list[subprocess.Popen] = []
    sim_url = f"http://127.0.0.1:{free_port()}"
    web_url = f"http://127.0.0.1:{free_port()}"
    prometheus_dir = tmp_path / "prometheus"
    prometheus_dir.mkdir()
    env = scale_out_env(
        SMS_PROVIDER="arkesel",
        ARKESEL_BASE_URL=sim_url,
        ARKESEL_API_KEY="integration-arkesel-key",
        ARKESEL_SENDER_ID="SHULE",
        ARKESEL_RATE_LIMIT="60000/m",
        MIFUMO_DISPATCH_BATCH="25",
        MIFUMO_DISPATCH_TIME_BUDGET="1",
        LOG_FORMAT="json",
        MIFUMO_METRICS_TOKEN=TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(prometheus_dir),
    )
    logs = {}

    def start(name, argv):
        logs[name] = tmp_path / f"{name}.log"
        processes.append(start_process(argv, logs[name], env))

    try:
        port = sim_url.rsplit(":", 1)[1]
        start("simulator", [*MIFUMO, "simulator", "--port", port, "--latency-ms", "30"])
        wait_until(lambda: _get(f"{sim_url}/_simulator/health"), 30, "no simulator")
        start("web", [*MIFUMO, "web", "--port", web_url.rsplit(":", 1)[1], "--workers", "2"])
        wait_until(lambda: _get(f"{web_url}/healthz"), 60, "no web server")

        def start_worker(name: str) -> subprocess.Popen:
            start(
                name,
                [*MIFUMO, "worker", "--concurrency", "1", "--without-gossip", "--without-mingle"],
            )
            wait_until(lambda: "ready" in logs[name].read_text(), 60, f"{name} idle")
            return processes[-1]

        yield web_url, logs, prometheus_dir, start_worker
    finally:
        for process in reversed(processes):
            stop_process(process)


def test_metrics_add_up_two_workers_and_the_request_id_follows_the_send(running):
    web_url, logs, prometheus_dir, start_worker = running
    registered = httpx.post(
        f"{web_url}/api/auth/register/",
        json={
            "organization": "Shule ya Metrics",
            "name": "Juma",
            "email": f"juma-{uuid.uuid4().hex[:8]}@example.org",
            "password": "a long passphrase for tests",
            "country": "TZ",
        },
        timeout=30,
    )
    assert registered.status_code == 201, registered.text
    auth = {"Authorization": f"Bearer {registered.json()['access']}"}
    before = sent_total(metrics(web_url))

    # One campaign per worker, one worker at a time: which of two live workers takes which
    # task is up to the broker, and a busy machine may leave one idle. The first worker stops
    # (as a restarted worker would) before the second starts; its counts must still be summed.
    request_ids, campaigns = [], []
    worker = None
    for batch, name in enumerate(("worker-1", "worker-2")):
        if worker is not None:
            wait_until(
                lambda: sent_total(metrics(web_url)) - before == PER_CAMPAIGN,
                120,
                "the first worker did not send its campaign",
            )
            stop_process(worker)
        worker = start_worker(name)
        request_id = f"itest-{uuid.uuid4().hex}"
        response = httpx.post(
            f"{web_url}/api/messaging/sms/bulk-send/",
            json={
                "contacts": [
                    {"phone": f"+25571{batch}{index:06d}"} for index in range(PER_CAMPAIGN)
                ],
                "message": "Habari mzazi",
                "sender_id": "SHULE",
            },
            headers={**auth, "X-Request-ID": request_id},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        assert response.headers["X-Request-ID"] == request_id
        request_ids.append(request_id)
        campaigns.append(response.json()["campaign_id"])

    # The counter moves while the campaigns are being sent, and ends at every message.
    wait_until(
        lambda: sent_total(metrics(web_url)) - before > 0,
        60,
        "the sent counter never moved",
    )
    wait_until(
        lambda: sent_total(metrics(web_url)) - before == 2 * PER_CAMPAIGN,
        120,
        "the sent counter did not reach every message",
    )
    for campaign_id in campaigns:
        assert (
            Campaign.objects.get(pk=campaign_id).messages.filter(status=MessageStatus.SENT).count()
            == PER_CAMPAIGN
        )
    samples = metrics(web_url)
    latency = ("mifumo_vendor_request_seconds_count", (("provider", "arkesel"),))
    assert samples[latency] >= 2 * PER_CAMPAIGN / 25
    route = (
        "mifumo_http_requests_total",
        (("method", "POST"), ("route", "/api/messaging/sms/bulk-send/"), ("status", "200")),
    )
    assert samples[route] == 2
    assert samples[("mifumo_rate_limit_wait_seconds_count", ())] >= 2 * PER_CAMPAIGN / 25

    # Both workers sent: each one's pool process wrote its own counter file, and the sum above
    # is theirs (the first one's file outlives it).
    working = {
        line["request_id"]
        for name in ("worker-1", "worker-2")
        for line in json_lines(logs[name])
        if line["message"].startswith("Dispatched campaign")
    }
    assert working == set(request_ids), working
    workers_that_sent = [
        name
        for name in ("worker-1", "worker-2")
        if any(
            line["message"].startswith("Dispatched campaign") and " 0 sent" not in line["message"]
            for line in json_lines(logs[name])
        )
    ]
    assert len(workers_that_sent) == 2, {n: logs[n].read_text()[-2000:] for n in logs}
    assert len(list(prometheus_dir.glob("counter_*.db"))) >= 3  # 2 web + 2 pool processes

    # The request id is on the web's line for the request and on the workers' lines.
    web_lines = json_lines(logs["web"])
    for request_id in request_ids:
        assert any(
            line["request_id"] == request_id and "/api/messaging/sms/bulk-send/" in line["message"]
            for line in web_lines
        ), logs["web"].read_text()[-2000:]
        assert any(
            line["request_id"] == request_id
            for name in ("worker-1", "worker-2")
            for line in json_lines(logs[name])
        )
