"""SQLite: an import job's write-ahead log is copied into the database by a thread beside the
import (wal.py), not in the import's own commits."""

from __future__ import annotations

import sqlite3
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
