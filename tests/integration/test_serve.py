"""`mifumo serve` as a newcomer runs it: one command, embedded defaults, a fresh data dir."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import pytest

from tests.integration.conftest import free_port, wait_until

pytestmark = [pytest.mark.integration]
# Serial: the tests of the shared `mifumo serve` time its start (healthy within 15 s), which
# other tests running beside them on the same cores push past its limit. The others start a
# serve of their own and time nothing: they run in the parallel step.
timed_start = pytest.mark.serial

SCALE_OUT_VARIABLES = {
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "SECRET_KEY",
    "MIFUMO_MODE",
}


def _start_serve(data_dir: Path, port: int, log_path: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in SCALE_OUT_VARIABLES}
    env["MIFUMO_DATA_DIR"] = str(data_dir)
    return subprocess.Popen(
        [sys.executable, "-m", "mifumo.cli", "serve", "--port", str(port)],
        env=env,
        stdout=open(log_path, "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _child_named(serve: psutil.Process, needle: str) -> psutil.Process | None:
    for child in serve.children(recursive=True):
        try:
            if needle in " ".join(child.cmdline()) and child.ppid() == serve.pid:
                return child
        except psutil.NoSuchProcess:
            continue
    return None


@contextmanager
def _serving(directory: Path) -> Iterator[dict]:
    port = free_port()
    log_path = directory / "serve.log"
    started = time.monotonic()
    process = _start_serve(directory / "data", port, log_path)
    base = f"http://127.0.0.1:{port}"
    tree: list[psutil.Process] = []
    try:
        # Generous: a serve started beside the parallel step's other tests may take long;
        # the timed test asserts its own limit on ready_after.
        wait_until(
            lambda: _healthy(base) or process.poll() is not None, 90, "serve never became healthy"
        )
        assert process.poll() is None, log_path.read_text()
        ready_after = time.monotonic() - started
        tree.extend(psutil.Process(process.pid).children(recursive=True))
        yield {"base": base, "process": process, "ready_after": ready_after, "log": log_path}
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        for child in tree:
            try:
                child.wait(timeout=10)
            except psutil.TimeoutExpired:
                child.kill()


@pytest.fixture
def served(tmp_path):
    """A `mifumo serve` of this test's own, for tests that kill or stop it."""
    with _serving(tmp_path) as running:
        yield running


@pytest.fixture(scope="module")
def shared_serve(tmp_path_factory):
    """One `mifumo serve` for the tests that only talk to it (each start costs ~10 s)."""
    with _serving(tmp_path_factory.mktemp("serve")) as running:
        yield running


@timed_start
def test_it_is_healthy_within_15_seconds_and_answers_register_then_me(shared_serve):
    served = shared_serve
    assert served["ready_after"] < 15
    base = served["base"]
    registered = httpx.post(
        f"{base}/api/auth/register/",
        json={
            "organization": "Shule ya Upendo",
            "name": "Mwalimu Juma",
            "email": "juma@upendo.example",
            "password": "a long passphrase for juma",
            "country": "TZ",
        },
        timeout=10,
    )
    assert registered.status_code == 201, registered.text
    me = httpx.get(
        f"{base}/api/auth/me/",
        headers={"Authorization": f"Bearer {registered.json()['access']}"},
        timeout=10,
    )
    assert me.status_code == 200
    assert me.json()["tenant"]["name"] == "Shule ya Upendo"
    assert me.json()["role"] == "admin"
    wait_until(lambda: "Mifumo is ready at" in served["log"].read_text(), 10, "no ready banner")
    banner = served["log"].read_text()
    assert f"{base}/" in banner and "/api/auth/register/" in banner


@timed_start
def test_with_no_vendor_configured_sms_go_through_the_simulator_and_come_back_delivered(
    shared_serve,
):
    served = shared_serve
    base = served["base"]
    registered = httpx.post(
        f"{base}/api/auth/register/",
        json={
            "organization": "Shule ya Simulator",
            "name": "Amina",
            "email": "amina@sim.example",
            "password": "a long passphrase for amina",
        },
        timeout=10,
    )
    assert registered.status_code == 201
    wait_until(lambda: "_simulator/messages" in served["log"].read_text(), 10, "no banner")
    simulator = re.search(
        r"(http://127\.0\.0\.1:\d+)/_simulator/messages", served["log"].read_text()
    )
    assert simulator, served["log"].read_text()

    headers = {"Authorization": f"Bearer {registered.json()['access']}"}
    sent = httpx.post(
        f"{base}/api/messaging/sms/bulk-send/",
        json={
            "contacts": [{"phone": f"+2557120000{i:02d}"} for i in range(5)],
            "message": "Habari mzazi",
        },
        headers=headers,
        timeout=30,
    )
    assert sent.status_code == 200, sent.text
    campaign_url = f"{base}/api/messaging/campaigns/{sent.json()['campaign_id']}/"

    def delivered() -> int:
        counters = httpx.get(campaign_url, headers=headers, timeout=10).json()["counters"]
        return counters.get("delivered", 0)

    wait_until(lambda: delivered() == 5, 60, "the simulator's delivery reports never arrived")
    received = httpx.get(f"{simulator.group(1)}/_simulator/stats", timeout=5).json()
    assert received["by_vendor"]["arkesel"] == 5


def test_it_restarts_a_child_that_dies_then_stops_every_child_cleanly_on_sigterm(served):
    # One serve for both (each start costs ~10 s of CI): the children after a restart must
    # stop on SIGTERM as well as the first ones.
    process = served["process"]
    supervisor = psutil.Process(process.pid)
    web = _child_named(supervisor, "gunicorn")
    assert web is not None
    web.kill()
    replacement = wait_until(
        lambda: (c := _child_named(supervisor, "gunicorn")) and c.pid != web.pid and c,
        30,
        "the web server was not restarted",
    )
    assert replacement.pid != web.pid
    wait_until(lambda: _healthy(served["base"]), 30, "not healthy after the restart")

    children = supervisor.children(recursive=True)
    assert any("redis-server" in " ".join(c.cmdline()) for c in children)
    assert replacement in children
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    _gone, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, [" ".join(p.cmdline()) for p in alive]


def test_it_refuses_a_port_that_is_in_use(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _start_serve(tmp_path / "data", port, tmp_path / "serve.log")
        assert process.wait(timeout=30) == 2
    assert "is in use" in (tmp_path / "serve.log").read_text()
