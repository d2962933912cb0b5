"""Contact imports against the issue's goals, on SQLite and on PostgreSQL.

A benchmark, not a test: it prints figures (the median of --runs runs of each case).

    .venv/bin/python bench/contacts_import.py                  # everything (about 25 minutes)
    .venv/bin/python bench/contacts_import.py --cases xlsx50k  # one case
    .venv/bin/python bench/contacts_import.py --databases sqlite --runs 5
    .venv/bin/python bench/contacts_import.py --naive-runs 1   # the slow naive case once

Cases (every run is a fresh process, so peak memory is the run's own):
- xlsx50k: a 50,000-row XLSX (name; phone in local, E.164, country-code-without-plus and
  number-cell shapes; e-mail; tags), 10% of rows repeating an earlier phone in another shape,
  2% invalid (bad phone or bad e-mail), imported end to end exactly as the API and a worker
  do it: import_job_create() (type check, archive inspection, header, mapping, row count;
  the workbook's rows kept as they are read, so that the worker does not parse it again:
  in the job's row on PostgreSQL, beside the database on SQLite) then import_job_run()
  until the job is completed.
  Goal: <= 3 s median, peak memory <= 200 MB.
- naive50k: the same file through the obvious per-row code: for each row normalize_phone(),
  Contact.objects.get_or_create(), then Tag.objects.get_or_create() and contact.tags.add()
  per tag, all inside one transaction (kinder to it than a commit per row). The ratio to
  xlsx50k is printed.
- csv50k / csv500k: the same rows as CSV, 50,000 and 500,000 of them. Goal: 500k within 10x
  the 50k time, memory flat. The 500,000-row file is ~28 MB, over the API's 10 MB upload
  limit: the job is created through the same service, below the HTTP layer. The summary also
  prints, within each 500k run, the time a chunk takes over the file's first tenth and over
  its last (from one chunk's commit to the next), whether the import slows down as the table
  grows, free of what a run pays once and of the machine's drift between two runs.

"speed" is how many milliseconds a fixed pure-Python loop took just before each run (lower is
faster): this VM's speed drifts by up to half within a minute, so compare runs whose speeds
are alike, and read a ratio of two cases with their speeds beside it.

Peak memory is the process's peak resident set (getrusage ru_maxrss), Django included; the
"own" column subtracts the process's size just before the import. For job runs the peak is
also split: "create" is the peak up to the job's creation (the API's part, which gets the file
as an open file, as Django hands over an upload spooled to disk), "run" the peak of the
import_job_run() calls alone (the worker's part; Linux's VmHWM, reset in between), "from" the
process's size when that part began (what the creation freed but did not give back to the OS
stays in this process; a worker of its own would not hold it).

SQLite runs use a fresh copy of a migrated database in a temporary directory; PostgreSQL runs
use the database mifumo_bench_import (or --pg-database) on 127.0.0.1, dropped and created
here, emptied before each run. Redis: databases 8 and 9 (nothing is queued there).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_SERVER = "postgres://postgres@127.0.0.1:5432"
PG_DATABASE = "mifumo_bench_import"  # --pg-database to use another
SECRET = "bench-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyzABCD"
CASES = ["xlsx50k", "naive50k", "csv50k", "csv500k"]
GOAL_SECONDS = 3.0
GOAL_MB = 200

# --- the files ----------------------------------------------------------------------------------

FIRST = ["Amina", "Baraka", "Chausiku", "Daudi", "Esther", "Faraji", "Grace", "Hamisi", "Imani",
         "Juma", "Kheri", "Lulu", "Mosi"]  # fmt: skip
LAST = ["Mushi", "Said", "Ally", "Mrema", "Kassim", "Otieno", "Njoroge", "Mwakyusa", "Komba",
        "Lyimo", "Temba", "Massawe"]  # fmt: skip
TAGS = ["wazazi", "vip", "staff", "kwaya", "wanafunzi", "alumni"]


def rows(count: int, seed: int = 7):
    """(name, phone cell, email, tags) with 10% repeats of earlier phones and 2% invalid."""
    rng = random.Random(seed)
    # Distinct numbers, not in order: 7xx xxx xxx from a multiplicative walk.
    numbers = [(i * 7_919_993) % 90_000_000 + 710_000_000 for i in range(1, count + 1)]
    issued: list[int] = []
    for index in range(count):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        email = f"{name.split()[0].lower()}.{index}@example.org"
        tags = ", ".join(rng.sample(TAGS, rng.randint(0, 2)))
        roll = rng.random()
        if roll < 0.10 and issued:  # a repeat of an earlier row's phone, in another shape
            number = rng.choice(issued)
        else:
            number = numbers[index]
            issued.append(number)
        shape = rng.random()
        if shape < 0.35:
            phone = f"0{number}"
        elif shape < 0.65:
            phone = f"+255{number}"
        elif shape < 0.80:
            phone = f"+255 {str(number)[:3]} {str(number)[3:6]} {str(number)[6:]}"
        elif shape < 0.90:
            phone = f"255{number}"
        else:
            phone = number  # a number cell: the leading zero lost
        if 0.10 <= roll < 0.11:
            phone = f"0{number}"[:7]  # too short
        elif 0.11 <= roll < 0.12:
            email = "not-an-email"
        yield name, phone, email, tags


def write_xlsx(path: Path, count: int) -> None:
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = workbook.add_worksheet("Contacts")
    sheet.write_row(0, 0, ["Name", "Phone", "Email", "Tags"])
    for number, row in enumerate(rows(count), start=1):
        sheet.write_row(number, 0, row)
    workbook.close()


def write_csv(path: Path, count: int) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Name", "Phone", "Email", "Tags"])
        writer.writerows(rows(count))


# --- one run, in a process of its own -------------------------------------------------------------


def child(case: str, path: str) -> None:
    import resource

    import django

    django.setup()
    from django.utils.timezone import now

    from mifumo.contacts.imports import services
    from mifumo.contacts.imports.models import ImportJob
    from mifumo.contacts.models import Contact
    from mifumo.tenancy.models import Tenant

    # This process plays the worker: it runs the job's tasks one after the other itself, so
    # the follow-up task a handing-over task queues is not sent to the broker.
    services._queue_on_commit = lambda job_id: None
    tenant = Tenant.objects.create(name="Bench: Shule ya Upendo", default_region="TZ")
    before_mb = _rss_mb()
    server = _server_cpu()
    wall, cpu = time.perf_counter(), time.process_time()
    if case == "naive50k":
        outcome = naive_import(tenant, Path(path).read_bytes())
    else:
        # The open file, as the API passes an upload that Django spooled to disk.
        with open(path, "rb") as upload:
            job = services.import_job_create(
                tenant=tenant, user=None, file_name=Path(path).name, data=upload, start=False
            )
        ImportJob.objects.filter(pk=job.pk).update(queued_at=now())  # as /start/ would
        create_seconds = time.perf_counter() - wall
        created_mb = _rss_mb("VmHWM")
        _reset_peak()  # from here on VmHWM is the worker's part alone
        # What the process holds when the worker's part starts: a worker of its own would
        # not hold what the creation left behind (freed, but not all given back to the OS).
        run_start_mb = _rss_mb()
        # When each chunk's commit returned: the time between two of them is the chunk's
        # share of the run (its reading, if the writer waited for it, and a resumed task's
        # start included), for the first and last tenths of the file. The first chunk's share
        # is left out: it holds the task's start, which a run pays once.
        chunk_ends = [time.perf_counter()]
        write_chunk = services._import_job_chunk

        def timed_chunk(*args):
            write_chunk(*args)
            chunk_ends.append(time.perf_counter())

        services._import_job_chunk = timed_chunk
        tasks = 1
        while services.import_job_run(job_id=job.pk):
            tasks += 1
        chunk_ms = [(b - a) * 1000 for a, b in itertools.pairwise(chunk_ends)]
        tenth = max(1, len(chunk_ms) // 10)
        job.refresh_from_db()
        assert job.status == "completed", job.error
        outcome = {
            "create_seconds": create_seconds,
            "create_peak_mb": created_mb,
            "run_peak_mb": _rss_mb("VmHWM"),
            "run_start_mb": run_start_mb,
            "imported": job.imported,
            "skipped": job.skipped,
            "failed": job.failed,
            "tasks": tasks,
            "first_tenth_ms": statistics.mean(chunk_ms[1 : tenth + 1] or chunk_ms),
            "last_tenth_ms": statistics.mean(chunk_ms[-tenth:]),
        }
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    outcome["server_cpu"] = _server_cpu() - server
    outcome["contacts"] = Contact.objects.filter(tenant=tenant).count()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {"seconds": wall, "cpu": cpu, "peak_mb": peak_mb, "own_mb": peak_mb - before_mb}
            | outcome
        )
    )


def _server_cpu() -> float:
    """CPU seconds of this process's PostgreSQL backend (the server runs on this machine);
    0 on SQLite, whose work is the process's own. One connection throughout: Django's."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0.0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _rss_mb(field: str = "VmRSS") -> float:
    """The resident set now (VmRSS), or its peak since the start or the last reset (VmHWM)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # Linux: VmHWM starts again from VmRSS


def naive_import(tenant, data: bytes) -> dict:
    """What a first version usually looks like: one contact at a time."""
    import io

    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email
    from django.db import transaction
    from python_calamine import CalamineWorkbook

    from mifumo.contacts.models import Contact, Tag
    from mifumo.contacts.phones import InvalidPhone, normalize_phone

    counts = {"imported": 0, "skipped": 0, "failed": 0}
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0)
    with transaction.atomic():
        for index, (name, phone, email, tags) in enumerate(sheet.iter_rows()):
            if index == 0:
                continue
            try:
                if isinstance(phone, float):
                    phone = str(int(phone))
                phone_e164 = normalize_phone(phone, tenant.default_region)
                if email:
                    validate_email(email)
            except (InvalidPhone, ValidationError):
                counts["failed"] += 1
                continue
            contact, created = Contact.objects.get_or_create(
                tenant=tenant, phone_e164=phone_e164, defaults={"name": name, "email": email}
            )
            if not created:
                counts["skipped"] += 1
                continue
            counts["imported"] += 1
            for tag_name in [t.strip() for t in tags.split(",") if t.strip()]:
                tag, _ = Tag.objects.get_or_create(tenant=tenant, name=tag_name)
                contact.tags.add(tag)
    return counts


# --- the runs -------------------------------------------------------------------------------------


def database_env(database: str, workdir: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mifumo.settings",
        "MIFUMO_MODE": "scale-out",
        # Databases 8 and 9: other benchmarks and CI use 10-15. Nothing is queued there (the
        # child plays the worker itself), but the settings need a broker.
        "REDIS_URL": "redis://127.0.0.1:6379/8",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/9",
        "SECRET_KEY": SECRET,
        "MIFUMO_DATA_DIR": str(workdir),
    }
    if database == "postgres":
        env["DATABASE_URL"] = f"{PG_SERVER}/{PG_DATABASE}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    return env


def prepare(database: str, base: Path, back_to: str | None = None) -> Path:
    """Migrate once: a template SQLite file, or the PostgreSQL bench database; then, with
    `back_to` ("app:migration"), unapply that app's later migrations (to time an import
    without a migration that is in the tree)."""
    template = base / f"template-{database}"
    template.mkdir(parents=True, exist_ok=True)
    if database == "postgres":
        import psycopg

        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
            connection.execute(f"CREATE DATABASE {PG_DATABASE}")
    subprocess.run(
        [sys.executable, "-m", "mifumo.cli", "manage", "migrate", "-v0"],
        env=database_env(database, template),
        check=True,
        cwd=ROOT,
    )
    if back_to:
        app, name = back_to.split(":")
        subprocess.run(
            [sys.executable, "-m", "mifumo.cli", "manage", "migrate", app, name, "-v0"],
            env=database_env(database, template),
            check=True,
            cwd=ROOT,
        )
    return template


def fresh(database: str, template: Path, base: Path) -> Path:
    workdir = Path(tempfile.mkdtemp(dir=base, prefix=f"run-{database}-"))
    if database == "sqlite":
        shutil.copy(template / "bench.sqlite3", workdir / "bench.sqlite3")
    else:
        import psycopg

        with psycopg.connect(f"{PG_SERVER}/{PG_DATABASE}", autocommit=True) as connection:
            connection.execute(
                "TRUNCATE contacts_importrowerror, contacts_importjob, contacts_contact_tags, "
                "contacts_contact_groups, contacts_contact_guardians, contacts_contact, "
                "contacts_tag, contacts_group, tenancy_tenant CASCADE"
            )
            connection.execute("VACUUM ANALYZE")
    return workdir


def machine_speed() -> float:
    """Milliseconds a fixed piece of pure Python takes now, the median of five. This VM's
    speed drifts (the same loop ran at 5.4 and then 11 million additions a second within one
    half-minute): printed beside each run, it tells a slow run from a slow machine."""

    def loop() -> float:
        started = time.perf_counter()
        total = 0
        for number in range(300_000):
            total += number
        return (time.perf_counter() - started) * 1000

    return statistics.median(loop() for _ in range(5))


def run_once(case: str, database: str, path: Path, template: Path, base: Path) -> dict:
    workdir = fresh(database, template, base)
    speed = machine_speed()
    try:
        completed = subprocess.run(
            [sys.executable, __file__, "--child", case, str(path)],
            env=database_env(database, workdir),
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if completed.returncode != 0:
        raise SystemExit(f"{case} on {database} failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1]) | {"speed_ms": speed}


def main() -> None:
    global PG_DATABASE
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", choices=CASES, default=CASES)
    parser.add_argument("--databases", nargs="+", choices=["sqlite", "postgres"],
                        default=["sqlite", "postgres"])  # fmt: skip
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--naive-runs", type=int, help="runs of naive50k (default: --runs)")
    parser.add_argument("--pg-database", default=PG_DATABASE, help="dropped and created here")
    parser.add_argument(
        "--migrate-back",
        metavar="APP:MIGRATION",
        help="unapply APP's migrations after MIGRATION first, e.g. contacts:0004_contact_counts",
    )
    parser.add_argument("--child", nargs=2, metavar=("CASE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    PG_DATABASE = args.pg_database
    if args.child:
        child(*args.child)
        return

    base = Path(tempfile.mkdtemp(prefix="mifumo-bench-import-"))
    try:
        files = {}
        for case in args.cases:
            kind, count = ("xlsx", 50_000) if "xlsx" in case or "naive" in case else (
                "csv", 500_000 if "500k" in case else 50_000
            )  # fmt: skip
            path = base / f"contacts-{count}.{kind}"
            if not path.exists():
                (write_xlsx if kind == "xlsx" else write_csv)(path, count)
            files[case] = path
        sizes = [f"{p.name} {p.stat().st_size / 2**20:.1f} MB" for p in sorted(set(files.values()))]
        print(f"files: {', '.join(sizes)}")
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
        results: dict[tuple[str, str], list[dict]] = {}
        for database in args.databases:
            template = prepare(database, base, args.migrate_back)
            # In rounds (each case once, then again), so that the machine's drifting speed
            # weighs on every case alike and a ratio can be taken within a round.
            counts = {
                case: args.naive_runs if case == "naive50k" and args.naive_runs else args.runs
                for case in args.cases
            }
            for round_ in range(max(counts.values())):
                for case in args.cases:
                    if round_ < counts[case]:
                        run = run_once(case, database, files[case], template, base)
                        results.setdefault((case, database), []).append(run)
            for case in args.cases:
                report(case, database, results[(case, database)])
        summary(results)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def median(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def report(case: str, database: str, runs: list[dict]) -> None:
    seconds = [f"{run['seconds']:.2f}" for run in runs]
    speeds = "/".join(f"{run['speed_ms']:.0f}" for run in runs)
    first = runs[0]
    print(
        f"{case:9} {database:8} median {median(runs, 'seconds'):6.2f} s (runs {', '.join(seconds)};"
        f" speed {speeds} ms;"
        f" cpu {median(runs, 'cpu'):.2f} s"
        + (f", server cpu {median(runs, 'server_cpu'):.2f} s" if database == "postgres" else "")
        + (
            f"; job created in {median(runs, 'create_seconds'):.2f} s"
            if "create_seconds" in first
            else ""
        )
        + f")  peak {median(runs, 'peak_mb'):5.0f} MB"
        f" (own {median(runs, 'own_mb'):4.0f} MB"
        + (
            f"; create {median(runs, 'create_peak_mb'):.0f}, run {median(runs, 'run_peak_mb'):.0f}"
            f" from {median(runs, 'run_start_mb'):.0f}"
            if "run_peak_mb" in first
            else ""
        )
        + f")  imported {first['imported']:,}"
        f" skipped {first['skipped']:,} failed {first['failed']:,}"
        + (f" tasks {first['tasks']}" if "tasks" in first else ""),
        flush=True,
    )


def summary(results: dict[tuple[str, str], list[dict]]) -> None:
    print()
    for database in ("sqlite", "postgres"):
        fast = results.get(("xlsx50k", database))
        if fast:
            seconds, peak = median(fast, "seconds"), median(fast, "peak_mb")
            verdict = "met" if seconds <= GOAL_SECONDS and peak <= GOAL_MB else "NOT met"
            print(
                f"{database}: 50k XLSX end to end {seconds:.2f} s, peak {peak:.0f} MB "
                f"(goal <= {GOAL_SECONDS:.0f} s, <= {GOAL_MB} MB: {verdict})"
            )
        naive = results.get(("naive50k", database))
        if fast and naive:
            ratio = median(naive, "seconds") / median(fast, "seconds")
            print(f"{database}: naive per-row get_or_create {median(naive, 'seconds'):.1f} s, "
                  f"{ratio:.0f}x slower")  # fmt: skip
        small, big = results.get(("csv50k", database)), results.get(("csv500k", database))
        if small and big:
            ratio = median(big, "seconds") / median(small, "seconds")
            cpu_ratio = median(big, "cpu") / median(small, "cpu")
            # Each round's 500k run over the same round's 50k run: the machine's speed moves
            # less between neighbours than between the first run and the last.
            rounds = [b["seconds"] / s["seconds"] for s, b in zip(small, big, strict=False)]
            print(
                f"{database}: 500k CSV {median(big, 'seconds'):.1f} s = {ratio:.1f}x the 50k CSV "
                f"(goal <= 10x; CPU {cpu_ratio:.1f}x; round by round "
                f"{', '.join(f'{r:.1f}x' for r in rounds)}, median "
                f"{statistics.median(rounds):.1f}x); peak {median(small, 'peak_mb'):.0f} MB "
                f"at 50k, {median(big, 'peak_mb'):.0f} MB at 500k"
            )
            # Whether the import slows down as the table grows, free of what a run pays once
            # (the job's creation, the first chunk's reading) and of the machine's drift
            # between two runs: the file's last tenth against its first, within each run.
            first, last = median(big, "first_tenth_ms"), median(big, "last_tenth_ms")
            per_run = ", ".join(f"{b['last_tenth_ms'] / b['first_tenth_ms']:.2f}x" for b in big)
            print(
                f"{database}: 500k CSV per chunk: over the file's first tenth {first:.0f} ms, "
                f"over its last {last:.0f} ms = {last / first:.2f}x (runs {per_run})"
            )


if __name__ == "__main__":
    main()
