"""Bulk send and bulk upload through the real API on PostgreSQL: issue 6's speed goals.

    .venv/bin/python bench/sms_bulk_send.py                 # all cases
    .venv/bin/python bench/sms_bulk_send.py --case send-http   # the send over HTTP
    .venv/bin/python bench/sms_bulk_send.py --case send --runs 20
    .venv/bin/python bench/sms_bulk_send.py --case upload --runs 5

Goals: POST /api/messaging/sms/bulk-send/ with 10,000 recipients (each number validated,
each message personalised, counted, priced, written and the campaign queued) answers with
p50 <= 300 ms and p95 <= 500 ms; a 50,000-row XLSX through /api/messaging/sms/bulk-upload/
answers within 4 s; peak memory <= 250 MB. The send is timed twice: over HTTP against `mifumo
web`'s gunicorn (what a client sees; the goal's figure) and in process through Django's test
client (which also times its own JSON encoding and the collection after the answer).
Each case runs in a process of its own (so the memory figure is that case's), on its own
database `mifumo_bench_send` (dropped and created) and Redis 127.0.0.1:6379 db 1 (flushed).
1,000 of the 10,000 numbers are stored contacts (with attributes the template uses), as in a
school's real send.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "mifumo_bench_send"
SERVER = "postgres://postgres@127.0.0.1:5432"
SETTINGS = {
    "DJANGO_SETTINGS_MODULE": "mifumo.settings",
    "MIFUMO_MODE": "scale-out",
    "DATABASE_URL": f"{SERVER}/{DATABASE}",
    "REDIS_URL": "redis://127.0.0.1:6379/1",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/1",
    "SECRET_KEY": "bench-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyzABCD",
    "MIFUMO_RATE_SMS_BULK": "100000/min",  # the spec's 5/min would stop the run at five
    "BEEM_SENDER_ID": "MIFUMO",
}
MESSAGE = "Habari {{name|mzazi}}, kikao cha wazazi ni Jumamosi saa 3 asubuhi. Karibu!"


def recreate_database() -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{DATABASE}"')


def setup_django():
    os.environ.update(SETTINGS)
    os.environ["MIFUMO_DATA_DIR"] = tempfile.mkdtemp(prefix="mifumo-bench-send-")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from mifumo.counters import shared_redis

    shared_redis().flushdb()
    # As mifumo/wsgi.py does in every web worker: start-up's objects leave the collector's sight.
    import gc

    gc.collect()
    gc.freeze()


def tenant_and_client():
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import AccessToken

    from mifumo.contacts.models import Contact
    from mifumo.tenancy.models import Membership, Role, Tenant, User

    tenant = Tenant.objects.create(name="Bench school", default_region="TZ")
    user = User.objects.create_user(email="bench@example.org", password="x" * 20, name="Bench")
    Membership.objects.create(user=user, tenant=tenant, role=Role.ADMIN)
    Contact.objects.bulk_create(
        Contact(
            tenant=tenant,
            name=f"Mzazi {index}",
            phone_e164=f"+2557{index:08d}",
            attributes={"form": "2B"},
        )
        for index in range(0, 10_000, 10)
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    client.token = str(AccessToken.for_user(user))  # for the HTTP case's requests
    return client


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def send_body(run: int) -> dict:
    # New numbers every run: a campaign never gets the same recipient twice anyway, and
    # the unique index should see realistic, not repeated, keys.
    offset = run * 10_000
    contacts = [
        {"phone": f"+2557{(offset + index) % 10**8:08d}", "name": f"Mzazi {index}"}
        for index in range(10_000)
    ]
    return {"contacts": contacts, "message": MESSAGE, "sender_id": "MIFUMO"}


def print_send_figures(how: str, timings: list[float], peak: float) -> None:
    timings.sort()
    p50 = statistics.median(timings)
    p95 = timings[max(0, round(0.95 * len(timings)) - 1)]
    print(
        f"bulk-send 10,000, {how}: p50 {p50:.0f} ms, p95 {p95:.0f} ms, min {timings[0]:.0f}, "
        f"max {timings[-1]:.0f} over {len(timings)} runs (goal p50 <= 300, p95 <= 500); "
        f"peak RSS {peak:.0f} MB"
    )


def case_send(runs: int) -> None:
    """In this process, through Django's test client. The time includes what a real client
    does on its own side (the test client encodes the JSON body) and what the server does
    after the answer has left (request_finished: the garbage collection of mifumo/memory.py)."""
    client = tenant_and_client()
    timings = []
    for run in range(runs + 3):
        body = send_body(run)
        started = time.perf_counter()
        response = client.post("/api/messaging/sms/bulk-send/", body, format="json")
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, response.content[:500]
        assert response.json()["successful_contacts"] == 10_000
        if run >= 3:
            timings.append(elapsed)
    print_send_figures("in process (test client)", timings, peak_mb())


def case_send_http(runs: int) -> None:
    """As a client sees it: `mifumo web`'s gunicorn (one worker, as production runs it) on a
    local port, the body encoded before the clock starts, the time until the whole answer
    has arrived. Memory is the gunicorn worker's peak."""
    import json

    import httpx

    from mifumo.cli import web_command

    token = tenant_and_client().token
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        web_command("127.0.0.1", port, 1, 4), env=os.environ.copy(), stdout=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            for _ in range(300):
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            timings = []
            for run in range(runs + 3):
                body = json.dumps(send_body(100 + run)).encode()
                started = time.perf_counter()
                response = client.post(
                    "/api/messaging/sms/bulk-send/", content=body, headers=headers
                )
                elapsed = (time.perf_counter() - started) * 1000
                assert response.status_code == 200, response.content[:500]
                assert response.json()["successful_contacts"] == 10_000
                if run >= 3:
                    timings.append(elapsed)
        print_send_figures("over HTTP (gunicorn)", timings, worker_peak_mb(server.pid))
    finally:
        server.terminate()
        server.wait(30)


def worker_peak_mb(master_pid: int) -> float:
    """The largest peak resident set (VmHWM) among the gunicorn master's children."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    peaks = []
    for pid in children:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks, default=0.0)


def upload_file(rows: int) -> bytes:
    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"constant_memory": True})
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, ["Phone", "Name", "Message", "Sender ID", "Fee"])
    for index in range(rows):
        phone = f"+2556{index:08d}" if index % 2 else f"06{index:08d}"
        sheet.write_row(index + 1, 0, [phone, f"Mzazi {index}", "", "", 5000 + index % 7])
    workbook.close()
    return buffer.getvalue()


def case_upload(runs: int) -> None:
    client = tenant_and_client()
    from mifumo.messaging.models import Template
    from mifumo.tenancy.models import Tenant

    template = Template.objects.create(
        tenant=Tenant.objects.get(),
        name="Ada",
        body="Habari {{name}}, ada ya muhula wa pili ni TSh {{fee}}. Asante.",
    )
    data = upload_file(50_000)
    timings = []
    from django.core.files.uploadedfile import SimpleUploadedFile

    from mifumo.delivery.models import Message

    for _ in range(runs):
        upload = SimpleUploadedFile("wazazi.xlsx", data)
        started = time.perf_counter()
        response = client.post(
            "/api/messaging/sms/bulk-upload/",
            {"file": upload, "sender_id": "MIFUMO", "template_id": str(template.pk)},
            format="multipart",
        )
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.content[:500]
        assert response.json()["successful_contacts"] == 50_000, response.json()["errors"][:5]
        timings.append(elapsed)
        Message.objects.all().delete()  # the next run sends to the same numbers
    print(
        f"bulk-upload 50,000 rows ({len(data) / 1e6:.1f} MB XLSX): median "
        f"{statistics.median(timings):.2f} s, min {min(timings):.2f}, max {max(timings):.2f} "
        f"over {len(timings)} runs (goal <= 4 s); peak RSS {peak_mb():.0f} MB (goal <= 250)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", choices=["send-http", "send", "upload", "all"], default="all")
    parser.add_argument("--runs", type=int, default=0, help="default: 20 sends, 5 uploads")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        setup_django()
        if args.case == "send-http":
            case_send_http(args.runs or 20)
        elif args.case == "send":
            case_send(args.runs or 20)
        else:
            case_upload(args.runs or 5)
        return
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    cases = ["send-http", "send", "upload"] if args.case == "all" else [args.case]
    for case in cases:
        recreate_database()
        argv = [sys.executable, __file__, "--child", "--case", case, "--runs", str(args.runs)]
        subprocess.run(argv, check=True)


if __name__ == "__main__":
    main()
