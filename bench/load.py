"""Load: mixed API traffic against the production web server while a big campaign sends
(issue 9, part 4).

    .venv/bin/python bench/load.py                                  # 60 s, 50,000 messages
    .venv/bin/python bench/load.py --seconds 15 --messages 5000     # the CI test's size

It starts the scale-out processes as production runs them: `mifumo web` (gunicorn), `mifumo
worker`, `mifumo scheduler`, and the simulator as the vendor (Arkesel), posting delivery
reports back to the web server; on PostgreSQL database `mifumo_h_load` (dropped and created)
and Redis 127.0.0.1:6379 databases 10 (cache, throttles, limits) and 11 (broker), flushed.
It seeds one organisation with `--messages` contacts (50,000) and `--users` staff, uploads a
small contact import, starts a campaign to every contact through the bulk-upload API, then
runs locust headless for `--seconds` with `--users` simulated staff (bench/load_locustfile.py:
contact lists and searches, contact pages and creation, estimates, bulk sends, campaigns,
messages, import status, groups). It prints requests per second and p50/p95 per endpoint, the
status codes seen, the campaign's progress and the delivery reports the web server took.

Exit status 1 when any request got a 5xx or no answer, a delivery report was refused, or the
campaign sent nothing during the run; 0 otherwise. tests/integration/test_load.py runs the
same code (`LoadRun`) on the test run's database and Redis.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
MIFUMO = [PYTHON, "-m", "mifumo.cli"]
LOCUSTFILE = Path(__file__).resolve().parent / "load_locustfile.py"
SECRET = "load-bench-only-secret-key-long-enough-for-hs512-0123456789abcdefghijklmn"
WEBHOOK_SECRET = "load-bench-webhook-secret"
MESSAGE = "Habari {name}, shule itafunguliwa Jumatatu tarehe 8 saa 1:30 asubuhi."


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} (waited {seconds:.0f} s)")


class LoadRun:
    """The processes, the seeded organisation and the campaign of one load run. Django must be
    set up in this process on the same database (`env` names it for the child processes)."""

    def __init__(self, env: dict[str, str], workdir: Path, *, web_workers: int = 2) -> None:
        self.workdir = workdir
        self.sim_url = f"http://127.0.0.1:{free_port()}"
        self.web_url = f"http://127.0.0.1:{free_port()}"
        self.web_workers = web_workers
        self.env = {
            **os.environ,
            **env,
            "MIFUMO_MODE": "scale-out",
            "PYTHONPATH": str(ROOT),
            "SMS_PROVIDER": "arkesel",
            "ARKESEL_BASE_URL": self.sim_url,
            "ARKESEL_API_KEY": "load",
            "ARKESEL_SENDER_ID": "SHULE",
            "ARKESEL_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "MIFUMO_PUBLIC_URL": self.web_url,
            "JWT_ACCESS_MINUTES": "120",
        }
        self.processes: list[subprocess.Popen] = []
        self.tokens: list[str] = []
        self.contact_ids: list[str] = []
        self.campaign_id = ""
        self.import_id = ""

    # --- processes ------------------------------------------------------------------------

    def _start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        self.processes.append(process)
        return process

    def start(self, *, worker_concurrency: int = 2) -> None:
        port = self.sim_url.rsplit(":", 1)[1]
        self._start("simulator", [*MIFUMO, "simulator", "--port", port, "--dlr-delay-ms", "500"])
        _wait(lambda: _answers(f"{self.sim_url}/_simulator/health"), 30, "no simulator")
        web_port = self.web_url.rsplit(":", 1)[1]
        self._start("web", [*MIFUMO, "web", "--port", web_port, "--workers", str(self.web_workers)])
        self._start("worker", [*MIFUMO, "worker", "--concurrency", str(worker_concurrency)])
        self._start("scheduler", [*MIFUMO, "scheduler"])
        _wait(lambda: _answers(f"{self.web_url}/healthz"), 60, "the web server never answered")

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> LoadRun:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- the organisation and its campaign --------------------------------------------------

    def seed(self, *, contacts: int, users: int) -> None:
        """One organisation with `contacts` contacts (COPY-speed bulk insert) in a group, and
        `users` staff with access tokens."""
        from rest_framework_simplejwt.tokens import AccessToken

        from mifumo.contacts.models import Contact, Group
        from mifumo.tenancy.models import Membership, Role, Tenant, User

        tenant = Tenant.objects.create(name="Shule ya Mzigo", default_region="TZ")
        for index in range(users):
            user = User.objects.create_user(
                email=f"staff{index}@load.example", password="x" * 20, name=f"Staff {index}"
            )
            role = Role.ADMIN if index == 0 else Role.MEMBER
            Membership.objects.create(user=user, tenant=tenant, role=role)
            self.tokens.append(str(AccessToken.for_user(user)))
        created = Contact.objects.bulk_create(
            (
                Contact(tenant=tenant, name=f"Mzazi {index}", phone_e164=f"+2557{index:08d}")
                for index in range(contacts)
            ),
            batch_size=5000,
        )
        self.contact_ids = [str(contact.pk) for contact in created]
        group = Group.objects.create(tenant=tenant, name="All Parents", kind="system")
        group.contacts.add(*created[:1000])

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[0]}"}

    def start_import(self) -> None:
        """A small contact import through the API, so the import status pages have a job."""
        rows = "".join(f"Mwalimu {index},06{index:08d}\n" for index in range(200))
        response = httpx.post(
            f"{self.web_url}/api/messaging/contacts/imports/",
            files={"file": ("walimu.csv", "Name,Phone\n" + rows, "text/csv")},
            headers=self._headers(),
            timeout=60,
        )
        response.raise_for_status()
        self.import_id = response.json()["id"]

    def start_campaign(self, messages: int) -> float:
        """Upload a sheet of the first `messages` contacts, each row with its text, to
        /sms/bulk-upload/; the seconds the upload took."""
        buffer = io.StringIO()
        sheet = csv.writer(buffer)
        sheet.writerow(["Phone", "Name", "Message"])
        for index in range(messages):
            name = f"Mzazi {index}"
            sheet.writerow([f"07{index:08d}", name, MESSAGE.format(name=name)])
        started = time.perf_counter()
        response = httpx.post(
            f"{self.web_url}/api/messaging/sms/bulk-upload/",
            files={"file": ("wazazi.csv", buffer.getvalue().encode(), "text/csv")},
            headers=self._headers(),
            timeout=120,
        )
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"bulk-upload: HTTP {response.status_code} {response.text[:500]}")
        body = response.json()
        if body["successful_contacts"] != messages:
            raise RuntimeError(f"bulk-upload accepted {body['successful_contacts']} of {messages}")
        detail = httpx.get(
            f"{self.web_url}/api/messaging/sms/bulk-upload/{body['upload_id']}/",
            headers=self._headers(),
            timeout=30,
        ).json()
        (campaign,) = detail["campaigns"]  # one sender id: one campaign
        self.campaign_id = campaign["id"]
        return elapsed

    def campaign_counts(self) -> dict[str, int]:
        from mifumo.delivery.services import campaign_counts

        return campaign_counts(self.campaign_id)

    def simulator_stats(self) -> dict:
        url = f"{self.sim_url}/_simulator/stats?per_recipient=0"
        return httpx.get(url, timeout=30).json()

    # --- the traffic -------------------------------------------------------------------------

    def run_locust(self, *, seconds: int, users: int) -> dict:
        """Locust, headless, for `seconds`; its results per endpoint (bench/load_locustfile.py)."""
        config = self.workdir / "locust.json"
        config.write_text(
            json.dumps(
                {
                    "tokens": self.tokens,
                    "contact_ids": self.contact_ids[:5000],
                    "contacts": len(self.contact_ids),
                    "campaign_id": self.campaign_id,
                    "import_id": self.import_id,
                }
            )
        )
        argv = [
            PYTHON,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "--users",
            str(users),
            "--spawn-rate",
            str(max(1, users // 2)),
            "--run-time",
            f"{seconds}s",
            "--stop-timeout",
            "10",
            "--host",
            self.web_url,
            "--only-summary",
            "--loglevel",
            "WARNING",
        ]
        with open(self.workdir / "locust.log", "w") as log:
            subprocess.run(
                argv,
                env={**self.env, "MIFUMO_LOAD_CONFIG": str(config)},
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=seconds + 120,
                check=False,  # locust exits 1 on any failure; the results say which
            )
        results = json.loads(config.read_text()).get("results")
        if not results:
            raise RuntimeError(f"locust wrote no results; see {self.workdir / 'locust.log'}")
        return results


def unexpected(results: dict) -> int:
    """Requests answered with a 5xx or not at all (status 0)."""
    return sum(
        seen
        for endpoint in results.values()
        for status, seen in endpoint["statuses"].items()
        if status == "0" or status.startswith("5")
    )


def report(results: dict, seconds: int) -> str:
    lines = [f"{'endpoint':<18} {'requests':>8} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7}  statuses"]
    total = 0
    for name, entry in sorted(results.items()):
        total += entry["requests"]
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(entry["statuses"].items()))
        lines.append(
            f"{name:<18} {entry['requests']:>8} {entry['rps']:>7.1f} {entry['p50_ms']:>7.0f} "
            f"{entry['p95_ms']:>7.0f}  {statuses}"
        )
    lines.append(f"{'all':<18} {total:>8} {total / seconds:>7.1f}")
    return "\n".join(lines)


def measure(run: LoadRun, *, seconds: int, users: int, messages: int) -> dict:
    """Seeded run -> start the campaign -> locust. Everything bench/load.py prints."""
    run.start_import()
    upload_seconds = run.start_campaign(messages)
    sent_before = run.simulator_stats()["messages"]
    results = run.run_locust(seconds=seconds, users=users)
    stats = run.simulator_stats()
    return {
        "results": results,
        "unexpected_5xx": unexpected(results),
        "upload_seconds": upload_seconds,
        "sent_during": stats["messages"] - sent_before,
        "sent_total": stats["messages"],
        "campaign_counts": run.campaign_counts(),
        "delivery_reports": stats["delivery_reports"],
        "duplicate_messages": stats["duplicate_messages"],
    }


def print_figures(figures: dict, *, seconds: int, users: int, messages: int) -> None:
    print(report(figures["results"], seconds))
    reports = figures["delivery_reports"]
    print(
        f"\n{users} users for {seconds} s; unexpected 5xx or no answer: "
        f"{figures['unexpected_5xx']}\n"
        f"campaign of {messages:,}: bulk-upload answered in {figures['upload_seconds']:.1f} s; "
        f"the vendor received {figures['sent_during']:,} during the run "
        f"({figures['sent_during'] / seconds:.0f}/s), {figures['sent_total']:,} in all; "
        f"statuses {figures['campaign_counts']}; duplicates {figures['duplicate_messages']}\n"
        f"delivery reports posted to the web server: {reports['sent']:,} taken, "
        f"{reports['failed']} refused, {reports['pending']:,} waiting"
    )


def failed(figures: dict) -> list[str]:
    problems = []
    if figures["unexpected_5xx"]:
        problems.append(f"{figures['unexpected_5xx']} requests got a 5xx or no answer")
    if figures["delivery_reports"]["failed"]:
        problems.append(f"{figures['delivery_reports']['failed']} delivery reports refused")
    if not figures["sent_during"]:
        problems.append("the campaign sent nothing during the run")
    if figures["duplicate_messages"]:
        problems.append(f"{figures['duplicate_messages']} messages sent twice")
    return problems


# --- the command ---------------------------------------------------------------------------


def _prepare(args: argparse.Namespace, workdir: Path) -> dict[str, str]:
    import psycopg
    import redis

    server, _, database = args.database_url.rpartition("/")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{database}"')
    for url in {args.redis_url, args.broker_url}:
        redis.Redis.from_url(url).flushdb()
    env = {
        "DJANGO_SETTINGS_MODULE": "mifumo.settings",
        "MIFUMO_MODE": "scale-out",
        "MIFUMO_DATA_DIR": str(workdir),
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "CELERY_BROKER_URL": args.broker_url,
        "SECRET_KEY": SECRET,
    }
    os.environ.update(env)
    subprocess.run([*MIFUMO, "manage", "migrate", "--verbosity", "0"], cwd=ROOT, check=True)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--messages", type=int, default=50_000, help="contacts and campaign size")
    parser.add_argument("--users", type=int, default=20, help="simulated staff (locust users)")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/mifumo_h_load"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/10")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--keep", action="store_true", help="keep the logs' directory")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="mifumo-load-"))
    load = os.getloadavg()[0]
    started = time.perf_counter()
    env = _prepare(args, workdir)
    with LoadRun(env, workdir, web_workers=args.web_workers) as run:
        run.start(worker_concurrency=args.worker_concurrency)
        run.seed(contacts=args.messages, users=args.users)
        print(f"set up in {time.perf_counter() - started:.0f} s (load average {load:.2f})")
        figures = measure(run, seconds=args.seconds, users=args.users, messages=args.messages)
    print_figures(figures, seconds=args.seconds, users=args.users, messages=args.messages)
    print(f"load average at the end {os.getloadavg()[0]:.2f}; logs in {workdir}")
    problems = failed(figures)
    for problem in problems:
        print(f"FAILED: {problem}")
    if not args.keep and not problems:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
