"""A delivery stack of real processes for integration and fault tests: the simulator standing
in for Arkesel, `mifumo worker` processes on the run's broker, `mifumo scheduler`, and
optionally `mifumo web` receiving delivery reports. Timings are shortened through the engine's
own settings so faults heal within seconds."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from django.db import transaction

from mifumo.delivery import services
from mifumo.delivery.models import MessageStatus
from mifumo.delivery.services import Recipient
from tests.integration.conftest import (
    MIFUMO,
    free_port,
    scale_out_env,
    start_process,
    stop_process,
    wait_until,
)

WEBHOOK_SECRET = "integration-webhook-secret"


def _get(url: str):
    try:
        return httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return None


class Stack:
    def __init__(
        self,
        tmp_path,
        *,
        latency_ms: int = 0,
        web: bool = False,
        faults: tuple = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.tmp_path = tmp_path
        self.processes: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []
        self.sim_url = f"http://127.0.0.1:{free_port()}"
        self.web_url = f"http://127.0.0.1:{free_port()}" if web else ""
        settings = dict(
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
        self.env = scale_out_env(**{**settings, **(env or {})})
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

    def configure(self, **changes) -> dict:
        """Change the simulator's settings while it runs (latency_ms, down, down_for...)."""
        response = httpx.post(f"{self.sim_url}/_simulator/config", json=changes, timeout=10)
        response.raise_for_status()
        return response.json()

    def received(self) -> list[dict]:
        """Every message the vendor recorded, in the order it received them."""
        response = httpx.get(f"{self.sim_url}/_simulator/messages", timeout=30)
        return response.json()["results"]

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
