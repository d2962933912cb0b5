"""SQLite: an import job's write-ahead log is copied into the database by a thread beside the
import (wal.py), not in the import's own commits."""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import closing

import pytest
from django.db import connection

from mifumo.contacts.imports import services, wal
from mifumo.contacts.imports.bulksql import WAL_AUTOCHECKPOINT_PAGES
from mifumo.contacts.models import Contact
from tests.integration.conftest import wait_until

pytestmark = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="PostgreSQL has no write-ahead log of ours to copy"
)


def test_a_commit_wakes_the_thread_and_the_logged_pages_reach_the_database_file(tmp_path):
    path = tmp_path / "import.sqlite3"
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA wal_autocheckpoint = 0")  # as the import's connection has it
        db.execute("CREATE TABLE t (x TEXT)")
        db.execute("BEGIN")
        db.executemany("INSERT INTO t VALUES (?)", [("x" * 100,)] * 5000)
        db.execute("COMMIT")
        in_file = path.stat().st_size
        assert in_file < 64 * 1024  # the rows are in the log only

        checkpointer = wal.Checkpointer(str(path))
        checkpointer.start()
        checkpointer.committed()
        wait_until(lambda: checkpointer.checkpoints == 1, 10, "a checkpoint", interval=0.01)
        checkpointer.stop()

        assert path.stat().st_size > 500 * 1024  # 5000 rows of 100 bytes: copied
        assert db.execute("SELECT count(*) FROM t").fetchone() == (5000,)


def test_a_thread_that_cannot_open_the_database_leaves_the_import_alone(tmp_path, caplog):
    checkpointer = wal.Checkpointer(str(tmp_path / "no" / "such" / "dir.sqlite3"))
    checkpointer.start()
    checkpointer.committed()
    checkpointer.stop()
    assert checkpointer.checkpoints == 0
    assert "cannot open" in caplog.text


def _autocheckpoint() -> int:
    return connection.connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0]


@pytest.fixture
def spied(monkeypatch):
    """The Checkpointers import jobs make, and the import connection's checkpoint limit as
    each chunk saw it."""
    made: list[wal.Checkpointer] = []
    limits: list[int] = []

    class Spy(wal.Checkpointer):
        def __init__(self, database):
            super().__init__(database)
            made.append(self)

    real_chunk = services._import_job_chunk

    def chunk(*args):
        limits.append(_autocheckpoint())
        real_chunk(*args)

    monkeypatch.setattr(wal, "Checkpointer", Spy)
    monkeypatch.setattr(services, "_import_job_chunk", chunk)
    return made, limits


def test_an_import_job_leaves_checkpoints_to_the_thread_then_restores_its_limit(
    transactional_db, tenant_a, settings, spied
):
    made, limits = spied
    settings.CONTACTS_IMPORT_CHUNK_ROWS = 200
    lines = ["name,phone"] + [f"Mzazi {i},0712{i:06d}" for i in range(2000)]
    job = services.import_job_create(
        tenant=tenant_a, user=None, file_name="wazazi.csv", data="\n".join(lines).encode()
    )

    assert services.import_job_run(job_id=job.pk) is False  # finished in one task

    assert Contact.objects.filter(tenant=tenant_a).count() == 2000
    assert limits == [0] * 10  # the import's commits never copied the log themselves
    assert len(made) == 1 and made[0].checkpoints >= 1
    assert _autocheckpoint() == WAL_AUTOCHECKPOINT_PAGES


def test_a_task_that_breaks_half_way_stops_the_thread_and_restores_the_limit(
    transactional_db, tenant_a, settings, spied, monkeypatch
):
    made, limits = spied
    settings.CONTACTS_IMPORT_CHUNK_ROWS = 2
    data = b"name,phone\nAsha,0712345678\nJuma,0754321098\nNeema,0765432109\n"
    job = services.import_job_create(tenant=tenant_a, user=None, file_name="a.csv", data=data)
    first_chunk = services._import_job_chunk

    def second_breaks(*args):
        if limits:
            raise ConnectionError("the disk went away")
        first_chunk(*args)

    monkeypatch.setattr(services, "_import_job_chunk", second_breaks)

    with pytest.raises(ConnectionError):
        services.import_job_run(job_id=job.pk)

    assert limits == [0]
    assert not made[0]._thread.is_alive()
    assert _autocheckpoint() == WAL_AUTOCHECKPOINT_PAGES


def test_inside_a_transaction_nothing_is_started(db):
    with wal.checkpoints_beside() as checkpointer:
        checkpointer.committed()
    assert checkpointer.checkpoints == 0


class _SlowCheckpointer(wal.Checkpointer):
    """Copies as a busy disk would: slower than the writer commits its next chunk."""

    @staticmethod
    def _checkpoint(db):
        time.sleep(0.05)
        return wal.Checkpointer._checkpoint(db)


def test_a_long_log_makes_the_import_wait_for_its_copy_so_the_log_starts_again(tmp_path):
    """SQLite writes the log from its start only when a commit finds all of it copied; with a
    checkpoint always one chunk behind, the log would grow with the whole import."""
    path = tmp_path / "import.sqlite3"
    chunks = 40
    checkpointer = _SlowCheckpointer(str(path), restart_after=100)
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA wal_autocheckpoint = 0")
        db.execute("CREATE TABLE t (x BLOB)")
        checkpointer.start()
        for _ in range(chunks):  # a chunk: 120 rows of a page each
            db.execute("BEGIN")
            db.executemany("INSERT INTO t VALUES (?)", [(os.urandom(page_size // 2),)] * 120)
            db.execute("COMMIT")
            checkpointer.committed()
            time.sleep(0.005)  # the next chunk's reading: shorter than a checkpoint here
        checkpointer.stop()
        assert db.execute("SELECT count(*) FROM t").fetchone() == (chunks * 120,)
        # Until the last connection closes, the log's file keeps its largest size.
        largest = (tmp_path / "import.sqlite3-wal").stat().st_size // (page_size + 24)

    # 40 chunks' pages (4,965) when the log never started again; with the waits ~1,200 (the
    # chunks committed before the first checkpoint's report, 50 ms in).
    assert largest < chunks * 120 / 2
    assert checkpointer.waits >= chunks / 2


def test_with_its_thread_gone_a_long_log_does_not_hold_the_import(tmp_path):
    checkpointer = wal.Checkpointer(str(tmp_path / "no" / "such" / "dir.sqlite3"), 0)
    checkpointer.start()
    checkpointer._thread.join()
    checkpointer.log_pages = 10_000

    started = time.monotonic()
    checkpointer.committed()

    assert time.monotonic() - started < 1
    assert checkpointer.waits == 1
