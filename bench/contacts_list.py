"""The contact list, its searches and bulk edit over 1,000,000 contacts on PostgreSQL.

A benchmark, not a test: it prints figures. Every request goes through the real API in this
process (URL routing, middleware, JWT authentication, filters, pagination, serializers, JSON),
with no web server in between, so the figures are the application's and the database's time.

    .venv/bin/python bench/contacts_list.py            # seeds once (about a minute), then measures
    .venv/bin/python bench/contacts_list.py --reseed   # drop and seed the database again
    .venv/bin/python bench/contacts_list.py --explain  # also EXPLAIN (ANALYZE, BUFFERS) each case
                                                       # (bulk edit: auto_explain, triggers too)

It uses its own database, mifumo_bench, on the local PostgreSQL (dropped and created here) and
Redis database 13. The contact bulk throttle (10 requests a minute per user) is raised to
100000/min through MIFUMO_RATE_CONTACTS_BULK, or bulk edit could not be sampled 60 times.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE = "mifumo_bench"
SERVER = "postgres://postgres@127.0.0.1:5432"
SETTINGS = {
    "DJANGO_SETTINGS_MODULE": "mifumo.settings",
    "MIFUMO_MODE": "scale-out",
    "DATABASE_URL": f"{SERVER}/{DATABASE}",
    "REDIS_URL": "redis://127.0.0.1:6379/13",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/13",
    "SECRET_KEY": "bench-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyzABCD",
    # The spec's 10/min per user would stop bulk edit after ten samples.
    "MIFUMO_RATE_CONTACTS_BULK": "100000/min",
}
BIG_TENANT = "Bench: Shule ya Sekondari Mifumo"
SMALL_TENANT = "Bench: Duka la Mama Neema"
SMALL_TENANT_CONTACTS = 2_000
GOAL_MS = 50.0

# --- realistic contacts -------------------------------------------------------------------------


def words(text: str) -> list[str]:
    return text.split()


FIRST_NAMES = words(
    """Juma Baraka Neema Amani Rehema Zawadi Upendo Imani Faraja Tumaini Mwanaisha Mwajuma
Halima Asha Zuhura Saida Mariamu Fatuma Khadija Salma Aisha Rukia Mwanahawa Hadija Ramadhani Hamisi
Hassani Hussein Shabani Athumani Bakari Rashidi Salum Omari Abdallah Musa Issa Yusufu Daudi Petro
Yohana Paulo Emmanuel Elia Ezekiel Godfrey Godlisten Elibariki Ebenezer Erasto Furaha Pendo Subira
Tabitha Winfrida Agnes Anna Grace Esther Joyce Lucy Rose Mary Janeth Catherine Happiness Gift Glory
Prisca Veronica Witness Lightness Sikudhani Mwanamisi Kulwa Doto Shija Masanja Kabula Ngusa Jabiri
Selemani Said Hamza Khamis Mohamedi Ali Idrisa Zuberi Makame Mbaraka Tatu Mwanaidi Sharifa Zainabu
Bahati Jumanne Shukuru Stella Nuru Modesta Consolata Scholastica Leonard Deogratias Innocent Fidelis
John Peter James David Michael Daniel Joseph George Frank Charles William Richard Robert Samuel
Stephen Simon Thomas Brian Kevin Dennis Elizabeth Sarah Ruth Irene Diana Alice Judith Margaret
Florence Caroline Evelyn Doreen Beatrice Christina Victoria Edith"""
)
LAST_NAMES = words(
    """Mushi Massawe Kimaro Lyimo Temba Swai Mrema Shirima Njau Kweka Minja Moshi Mollel
Laizer Lukumay Mbise Sumari Nnko Pallangyo Kaaya Mwakyusa Mwakalinga Mwakasege Mwaipopo Mwansasu
Mwamba Mfinanga Msuya Kileo Mbwambo Mjema Mziray Mhina Shemdoe Kisanga Magesa Mabula Mayala Ngowi
Mallya Urassa Tarimo Assenga Kessy Marandu Mtui Chuwa Kavishe Makundi Mosha Maro Juma Hamisi Ally
Salim Mohamed Hassan Omary Bakari Rajabu Mussa Abdallah Ramadhani Athuman Kombo Haji Mzee Nassoro
Chande Kapinga Komba Nyoni Mapunda Ndunguru Haule Mbunda Ngonyani Mhagama Kihwele Mwenda Lema Mlay
Kimei Kitomari Mariki Massao Rweyemamu Rwegasira Kamugisha Kagaruki Mutembei Byabato Lugakingira
Kabendera Barongo Kahigi Bukuku Kisena Nyamhanga Wambura Marwa Chacha Mwita Magige Nyerere Sanga
Mwalongo Kilewo Lupembe Mgaya Mligo Kibona Mwaisela Mwasomola Msigwa Kalinga Mbilinyi Mwakatobe
Smith Johnson Brown Williams Wilson Taylor Thompson Jones"""
)
EMAIL_DOMAINS = ["gmail.com"] * 6 + ["yahoo.com", "hotmail.com", "outlook.com", "mifumo.ac.tz"]
REGIONS = words("Arusha Dar-es-Salaam Dodoma Kilimanjaro Mwanza Mbeya Tanga Morogoro Iringa Mara")
CLASSES = [f"Form {form}{stream}" for form in range(1, 5) for stream in "ABC"]
# Tanzanian mobile operators' second digits (+255 71x, 74x-78x); the rest is uniform.
OPERATOR_DIGITS = "145678"
# (name, share of contacts carrying it). Tags are on the TAGGED share of contacts only.
TAGGED = 0.3
TAGS = [
    ("wazazi", 0.15),
    ("wanafunzi", 0.08),
    ("walimu", 0.02),
    ("wafanyakazi", 0.02),
    ("vip", 0.01),
    ("wafadhili", 0.01),
    ("bodi", 0.002),
    ("madereva", 0.002),
    ("alumni", 0.05),
]
FULL_NAMES = ["juma mushi", "neema massawe", "baraka kimaro", "amani lyimo", "rehema temba"]
SURNAME_FRAGMENTS = ["lugaking", "rweyemam", "kagaruk", "mwaisel", "mbilinyi", "nyamhang"]
COMMON_FIRST_NAMES = ["juma", "neema", "baraka", "amani", "rehema", "zawadi"]
GROUPS = ["All Students", "All Parents", "All Teachers", "All Staff", *CLASSES]


def frequency_weights(count: int) -> list[float]:
    """Names listed first are the common ones, as in a real register: the first of 140 is
    carried by about 3% of people, the last by about 0.3% (a Zipf-Mandelbrot curve)."""
    return [1 / (rank + 10) for rank in range(1, count + 1)]


def contact_rows(rng: random.Random, tenant_id: uuid.UUID, count: int, phones: list[int]):
    """Rows for contacts_contact, oldest first (created_at follows the insertion order, as it
    does in a table that grew over three years)."""
    firsts = rng.choices(FIRST_NAMES, frequency_weights(len(FIRST_NAMES)), k=count)
    middles = rng.choices(FIRST_NAMES, frequency_weights(len(FIRST_NAMES)), k=count)
    lasts = rng.choices(LAST_NAMES, frequency_weights(len(LAST_NAMES)), k=count)
    start = datetime.now(UTC) - timedelta(days=3 * 365)
    step = timedelta(days=3 * 365) / count
    created = start
    for i in range(count):
        # Imports add hundreds of contacts within the same second; typing adds them one by one.
        if rng.random() < 0.3:
            created += step * 2 * rng.random()
        first, last = firsts[i], lasts[i]
        roll = rng.random()
        if roll < 0.02:
            name = ""
        elif roll < 0.27:
            name = f"{first} {middles[i]} {last}"
        else:
            name = f"{first} {last}"
        email = ""
        if rng.random() < 0.35:
            number = str(rng.randrange(100)) if rng.random() < 0.5 else ""
            email = f"{first}.{last}{number}@{rng.choice(EMAIL_DOMAINS)}".lower()
        attributes = {}
        roll = rng.random()
        if roll < 0.45:
            attributes = {"role": "parent", "region": rng.choice(REGIONS)}
        elif roll < 0.7:
            attributes = {
                "role": "student",
                "class": rng.choice(CLASSES),
                "admission_no": f"S/{2019 + i % 6}/{i % 100000:05d}",
            }
        elif roll < 0.75:
            attributes = {"role": "teacher", "subject": rng.choice(["Maths", "Kiswahili", "Bios"])}
        phone = phones[i]
        opted_out = rng.random() < 0.015
        yield (
            uuid.UUID(int=rng.getrandbits(128), version=4),
            tenant_id,
            name,
            f"+2557{OPERATOR_DIGITS[phone // 10**7]}{phone % 10**7:07d}",
            email,
            json.dumps(attributes),
            rng.random() > 0.03,
            created + timedelta(hours=1) if opted_out else None,
            "STOP" if opted_out else "",
            created,
            created,
        )


CONTACT_TABLES = (
    "contacts_contact",
    "contacts_contact_tags",
    "contacts_contact_groups",
    "contacts_contact_guardians",
    "contacts_contactword",  # the name search's words (migration 0005), written by triggers
)
CONTACT_COLUMNS = (
    "id, tenant_id, name, phone_e164, email, attributes, is_active, opted_out_at, "
    "opt_out_reason, created_at, updated_at"
)


def seed(count: int) -> None:
    from django.db import connection

    from mifumo.contacts.models import Group, Tag
    from mifumo.tenancy.services import tenant_register

    rng = random.Random(2025)
    started = time.perf_counter()
    big = tenant_register(
        organization=BIG_TENANT,
        name="Mwalimu Mkuu",
        email="admin@bench.example",
        password="bench-only passphrase",
    ).membership.tenant
    small = tenant_register(
        organization=SMALL_TENANT,
        name="Mama Neema",
        email="neema@bench.example",
        password="bench-only passphrase",
    ).membership.tenant
    tags = {
        tenant.pk: Tag.objects.bulk_create([Tag(tenant=tenant, name=name) for name, _ in TAGS])
        for tenant in (big, small)
    }
    groups = {
        tenant.pk: Group.objects.bulk_create(
            [
                Group(
                    tenant=tenant, name=name, kind="system" if name.startswith("All") else "class"
                )
                for name in GROUPS
            ]
        )
        for tenant in (big, small)
    }
    connection.close()

    with psycopg.connect(SETTINGS["DATABASE_URL"]) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        # Loading into a table without its secondary indexes and building them afterwards is
        # several times faster than updating two trigram indexes row by row. The definitions
        # come from the catalog, so the rebuilt indexes are exactly what the migrations made.
        secondary = conn.execute(
            """
            SELECT i.indexname, i.indexdef FROM pg_indexes i
            WHERE i.tablename = ANY(%s)
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
            """,
            [list(CONTACT_TABLES)],
        ).fetchall()
        for index_name, _ in secondary:
            conn.execute(f'DROP INDEX "{index_name}"')
        loaded = time.perf_counter()
        for tenant, n in ((big, count), (small, SMALL_TENANT_CONTACTS)):
            # Distinct numbers: one contact per phone in a tenant.
            phones = rng.sample(range(len(OPERATOR_DIGITS) * 10**7), n)
            contact_ids = []
            with conn.cursor().copy(
                f"COPY contacts_contact ({CONTACT_COLUMNS}) FROM STDIN"
            ) as copy:
                for row in contact_rows(rng, tenant.pk, n, phones):
                    contact_ids.append(row[0])
                    copy.write_row(row)
            with conn.cursor().copy(
                "COPY contacts_contact_tags (contact_id, tag_id) FROM STDIN"
            ) as copy:
                shares = [(tag.pk, dict(TAGS)[tag.name] / TAGGED) for tag in tags[tenant.pk]]
                for contact_id in contact_ids:
                    if rng.random() < TAGGED:
                        for tag_id, share in shares:
                            if rng.random() < share:
                                copy.write_row((contact_id, tag_id))
            with conn.cursor().copy(
                "COPY contacts_contact_groups (contact_id, group_id) FROM STDIN"
            ) as copy:
                for contact_id in contact_ids:
                    if rng.random() < 0.1:
                        copy.write_row((contact_id, rng.choice(groups[tenant.pk]).pk))
            with conn.cursor().copy(
                "COPY contacts_contact_guardians (from_contact_id, to_contact_id) FROM STDIN"
            ) as copy:
                for contact_id in contact_ids:
                    if rng.random() < 0.05:
                        guardian = rng.choice(contact_ids)
                        if guardian != contact_id:
                            copy.write_row((contact_id, guardian))
        conn.commit()  # runs the deferred foreign-key checks, which CREATE INDEX must not precede
        copied = time.perf_counter()
        for _, definition in secondary:
            conn.execute(definition)
        conn.commit()
        indexed = time.perf_counter()
        # VACUUM as well as ANALYZE: autovacuum would soon do the same to an insert-only
        # table, and the visibility map it sets is what allows index-only scans.
        vacuum()
        done = time.perf_counter()
    print(
        f"seeded {count:,} + {SMALL_TENANT_CONTACTS:,} contacts in {done - started:.1f} s "
        f"(generate + COPY {copied - loaded:.1f} s, indexes {indexed - copied:.1f} s, "
        f"VACUUM ANALYZE {done - indexed:.1f} s)"
    )


# --- the database -------------------------------------------------------------------------------


def seeded_count() -> int | None:
    """The big tenant's contacts in an existing benchmark database, or None."""
    try:
        with psycopg.connect(SETTINGS["DATABASE_URL"]) as conn:
            row = conn.execute(
                "SELECT count(*) FROM contacts_contact c JOIN tenancy_tenant t "
                "ON t.id = c.tenant_id WHERE t.name = %s",
                [BIG_TENANT],
            ).fetchone()
            return row[0]
    except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
        return None


def recreate_database() -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")


def vacuum() -> None:
    """Measure from the state autovacuum keeps the table in. The last run's bulk edits cleared
    the visibility map on thousands of pages, which turns index-only counts into heap reads."""
    with psycopg.connect(SETTINGS["DATABASE_URL"], autocommit=True) as conn:
        for table in CONTACT_TABLES:
            conn.execute(f"VACUUM (ANALYZE) {table}")


# --- measuring ----------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


class Case:
    def __init__(self, name: str, goal: bool, requests, *, writes: bool = False) -> None:
        self.name, self.goal, self.requests, self.writes = name, goal, requests, writes


def run_case(client, case: Case, samples: int, warmup: int) -> dict:
    for i in range(warmup):
        case.requests(client, i)
    times, python_times, counts = [], [], []
    for i in range(samples):
        started, python_started = time.perf_counter(), time.process_time()
        response = case.requests(client, warmup + i)
        times.append((time.perf_counter() - started) * 1000)
        python_times.append((time.process_time() - python_started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{case.name}: HTTP {response.status_code} {response.content[:300]}")
        body = response.json()
        counts.append(body.get("count", body.get("updated_count")))
    return {
        "median": statistics.median(times),
        "p95": percentile(times, 0.95),
        "max": max(times),
        "python": statistics.median(python_times),
        "rows": (min(counts), max(counts)),
    }


def clip(text: str, width: int = 300) -> str:
    """SQL and plans name the 50 contacts of a page, or the 100 of a bulk edit, one by one."""
    return text if len(text) <= width else text[:width] + " ..."


AUTO_EXPLAIN = [
    "auto_explain.log_min_duration = 0",
    "auto_explain.log_analyze = on",
    "auto_explain.log_buffers = on",
    "auto_explain.log_wal = on",
    "auto_explain.log_nested_statements = on",  # the statements of the triggers
    "client_min_messages = log",
]


def explain_writes(client, case: Case, index: int) -> None:
    """Run one request of a case that writes with auto_explain on in its session, and print
    the plans PostgreSQL reports: those of the statements the triggers run too, with the
    write-ahead log each wrote. Replaying a write afterwards would show another cost: a
    bulk edit replayed gives the contacts the names they have already, and the word trigger
    skips them."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("LOAD 'auto_explain'")
        for setting in AUTO_EXPLAIN:
            cursor.execute(f"SET {setting}")
    plans: list[str] = []

    def collect(diagnostic) -> None:
        plans.append(diagnostic.message_primary or "")

    connection.connection.add_notice_handler(collect)
    try:
        case.requests(client, index)
    finally:
        connection.connection.remove_notice_handler(collect)
        with connection.cursor() as cursor:
            cursor.execute("SET auto_explain.log_min_duration = -1")
            cursor.execute("RESET client_min_messages")
    print(f"\n=== {case.name} (auto_explain, the triggers' statements included)")
    # The foreign-key checks at COMMIT are one tiny statement per row inserted: summed.
    repeated: dict[str, list[float]] = {}
    for plan in plans:
        duration, _, rest = plan.partition(" ms  plan:\n")
        query = rest.partition("\n")[0]
        if "FOR KEY SHARE" in query:
            repeated.setdefault(query, []).append(float(duration.split()[-1]))
        elif "contacts_" in plan:
            print("\n" + "\n".join(clip(line) for line in plan.splitlines()))
    for query, durations in repeated.items():
        print(f"\n{len(durations)} x {clip(query, 120)}: {sum(durations):.1f} ms in all")


def explain(client, case: Case, index: int) -> None:
    """Run one request of the case and EXPLAIN (ANALYZE, BUFFERS) its queries on contacts."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    if case.writes:
        explain_writes(client, case, index)
        return
    with CaptureQueriesContext(connection) as captured:
        case.requests(client, index)
    print(f"\n=== {case.name}")
    for query in captured.captured_queries:
        sql = query["sql"]
        if "contacts_contact" not in sql or sql.startswith(("SAVEPOINT", "RELEASE")):
            continue
        print(f"\n-- {query['time']} s in the request\n{clip(sql)}")
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
            print("\n".join(clip(row[0]) for row in cursor.fetchall()))
            transaction.set_rollback(True)  # EXPLAIN ANALYZE of an UPDATE really updates


def cases(tenant, rng: random.Random, samples: int, warmup: int) -> list[Case]:
    from mifumo.contacts.models import Contact

    url = "/api/messaging/contacts/"

    def get(**params):
        return lambda client, i: client.get(url, params)

    def search(values: list[str]):
        # As query parameters, so that "+2557..." arrives with its plus, not as a space.
        return lambda client, i: client.get(url, {"search": values[i % len(values)]})

    # Distinct contacts for every bulk edit, spread over the whole table (ids are random). The
    # same ones each run, so that repeated runs do not drift the data away from the seed's
    # shares of names and tags.
    needed = (samples + warmup + 1) * 100
    ids = [
        str(pk)
        for pk in Contact.objects.filter(tenant=tenant)
        .order_by("pk")
        .values_list("pk", flat=True)[:needed]
    ]
    rng.shuffle(ids)

    def bulk_edit(client, i):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        body = {
            "contact_ids": ids[i * 100 : (i + 1) * 100],
            "updates": {
                "name": f"{first} {last}",
                "tags": rng.sample([name for name, _ in TAGS], 2),
                "attributes": {"class": rng.choice(CLASSES), "region": rng.choice(REGIONS)},
            },
        }
        return client.post(f"{url}bulk-edit/", body, format="json")

    e164_prefixes = [f"+2557{d}{n:02d}" for d in OPERATOR_DIGITS for n in (23, 48, 90)]
    local_prefixes = [f"07{d}{n}" for d in OPERATOR_DIGITS for n in (2, 5)]
    return [
        Case("list, page 1", True, get()),
        Case("list, page 200", True, get(page=200)),
        Case("search phone +2557ddd", True, search(e164_prefixes)),
        Case("search phone 07dd", True, search(local_prefixes)),
        Case("search phone 7dd", True, search([p[1:] for p in local_prefixes])),
        # A person looked up by name: a few hundred contacts share a common first + last name.
        Case("search name, full", True, search(FULL_NAMES)),
        # A surname fragment: a few thousand contacts.
        Case("search name, surname", True, search(SURNAME_FRAGMENTS)),
        # The most common first names: 3-5% of the table, the broadest realistic name search.
        Case("search name, common", True, search(COMMON_FIRST_NAMES)),
        Case("filter tag vip (~1%)", False, get(tag="vip")),
        Case("filter tag wazazi (~15%)", False, get(tag="wazazi")),
        Case("bulk edit 100 contacts", True, bulk_edit, writes=True),
    ]


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def machine() -> str:
    """What the figures depend on: a shared machine's load, and PostgreSQL's cache size (the
    table and its indexes are larger than the default 128 MB of shared_buffers)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('server_version'), current_setting('shared_buffers')"
        )
        version, shared_buffers = cursor.fetchone()
    return (
        f"{os.cpu_count()} CPUs, load average {load()}; PostgreSQL {version}, "
        f"shared_buffers {shared_buffers}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reseed", action="store_true", help="drop the database and seed again")
    parser.add_argument("--contacts", type=int, default=1_000_000, help="in the big tenant")
    parser.add_argument("--samples", type=int, default=60, help="measured requests per case")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured requests per case")
    parser.add_argument("--only", help="run the cases whose name contains this text")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN each case's queries")
    args = parser.parse_args()

    os.environ.update(SETTINGS)
    data_dir = tempfile.mkdtemp(prefix="mifumo-bench-")
    os.environ["MIFUMO_DATA_DIR"] = data_dir
    try:
        if args.reseed or seeded_count() != args.contacts:
            recreate_database()
            needs_seed = True
        else:
            needs_seed = False

        import django

        django.setup()
        from django.core.management import call_command
        from rest_framework.test import APIClient
        from rest_framework_simplejwt.tokens import AccessToken

        from mifumo.tenancy.models import Tenant, User

        call_command("migrate", verbosity=0)
        if needs_seed:
            seed(args.contacts)
        vacuum()
        # As a gunicorn worker starts: mifumo.wsgi freezes what start-up made (gc.freeze).
        import mifumo.wsgi  # noqa: F401

        tenant = Tenant.objects.get(name=BIG_TENANT)
        client = APIClient()
        user = User.objects.get(membership__tenant=tenant)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")

        rng = random.Random()
        selected = [
            case
            for case in cases(tenant, rng, args.samples, args.warmup)
            if not args.only or args.only in case.name
        ]
        print(
            f"{args.contacts:,} contacts, {args.samples} samples per case after "
            f"{args.warmup} warm-up requests; times in ms, in-process through the API; python:\n"
            f"the median CPU time of this process per request (the rest is the database's and\n"
            f"waiting)\n"
            f"{machine()}"
        )
        header = (
            f"{'case':<28} {'rows matched':>15} {'median':>8} {'p95':>8} {'max':>8} "
            f"{'python':>7}  goal"
        )
        print(header)
        print("-" * len(header))
        for case in selected:
            result = run_case(client, case, args.samples, args.warmup)
            low, high = result["rows"]
            rows = f"{low:,}" if low == high else f"{low:,}-{high:,}"
            verdict = ""
            if case.goal:
                verdict = "ok" if result["p95"] <= GOAL_MS else f"MISSED (p95 > {GOAL_MS:.0f})"
            print(
                f"{case.name:<28} {rows:>15} {result['median']:>8.1f} {result['p95']:>8.1f} "
                f"{result['max']:>8.1f} {result['python']:>7.1f}  {verdict}",
                flush=True,
            )
        print(f"load average at the end: {load()}")
        if args.explain:
            for case in selected:
                explain(client, case, 0)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
