"""SQLite: a long import's write-ahead log copied into the database beside it, not in its way.

Each chunk's commit appends the pages it changed to the WAL, and SQLite copies the log into
the database (a checkpoint) in the commit that takes it past wal_autocheckpoint pages; that
commit waits for the copy and two disk syncs. A chunk changes pages all over the random
(tenant, phone) index, so its share of the log grows with the table: past ~50,000 contacts a
checkpoint came every ~6 chunks and added 130-160 ms to a chunk of ~200, 16 of them (2.2 s) in
a 500,000-row import against one in a 50,000-row one.

While an import job runs, its connection leaves checkpoints alone and a thread with a
connection of its own runs a passive checkpoint after each chunk's commit: passive
checkpoints never block the writer or readers, and sqlite3 lets go of the interpreter lock
while one runs, so on a second core it costs the import nothing. The log also stays a
chunk or two long, so the next connection to commit (an API request) finds no large log to
copy. PostgreSQL and SQLite outside WAL mode (or inside a test's transaction) are left as
they are.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from mifumo.contacts.imports.bulksql import WAL_AUTOCHECKPOINT_PAGES

logger = logging.getLogger(__name__)


class Checkpointer:
    """Runs a passive checkpoint in its own thread each time `committed()` is called; with no
    database (PostgreSQL, SQLite not in WAL mode), does nothing."""

    def __init__(self, database: str | None) -> None:
        self._wake = threading.Event()
        self._stopping = False
        self.checkpoints = 0  # run so far: for tests and benchmarks
        self._thread = (
            threading.Thread(
                target=self._run, args=(database,), name="import-checkpoints", daemon=True
            )
            if database
            else None
        )

    def start(self) -> None:
        if self._thread:
            self._thread.start()

    def committed(self) -> None:
        """A chunk has committed: its pages may go into the database."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread:
            self._thread.join()

    def _run(self, database: str) -> None:
        try:
            # Its own connection: Django's belongs to the import's thread. A passive
            # checkpoint takes no lock that makes it wait, so the timeout only covers opening.
            db = sqlite3.connect(database, timeout=5, isolation_level=None)
        except sqlite3.Error:
            logger.warning("import checkpoints: cannot open %s", database, exc_info=True)
            return
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    return
                db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                self.checkpoints += 1
        except sqlite3.Error:
            # The import goes on; its log is copied by the next other connection to commit
            # (at its own limit) or by the import's after it, whose limit is then restored.
            logger.warning("import checkpoints stopped", exc_info=True)
        finally:
            db.close()


@contextmanager
def checkpoints_beside() -> Iterator[Checkpointer]:
    """For the import job's chunks: call `.committed()` on what this yields after each one."""
    if not _wal_outside_transaction():
        yield Checkpointer(None)
        return
    checkpointer = Checkpointer(connection.settings_dict["NAME"])
    connection.connection.execute("PRAGMA wal_autocheckpoint = 0")
    checkpointer.start()
    try:
        yield checkpointer
    finally:
        checkpointer.stop()
        _restore_autocheckpoint()


def _wal_outside_transaction() -> bool:
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        return False
    connection.ensure_connection()
    (mode,) = connection.connection.execute("PRAGMA journal_mode").fetchone()
    return mode == "wal"


def _restore_autocheckpoint() -> None:
    # The connection outlives the task (a worker's); it may have been closed by an error.
    if connection.connection is None:
        return
    try:
        connection.connection.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
    except sqlite3.Error:  # the driver's own connection: its own errors
        logger.warning("import checkpoints: could not restore wal_autocheckpoint", exc_info=True)
