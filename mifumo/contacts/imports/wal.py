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
while one runs, so on a second core it costs the import nothing.

The log only starts again from its beginning when a commit finds all of it copied, and the
import's next chunk is written while the thread still copies the last one: left alone, the log
never started again and its file reached 608 MB in a 500,000-row import (a file that a
worker's connection keeps at its largest size). So once a checkpoint finds the log past
wal_autocheckpoint pages, the import waits for the next one to finish before its next chunk,
which then writes the log from its start: in a 500,000-row import one chunk in five waited,
0.45 s in all (the reader thread prepares the next chunk meanwhile), and the file stayed at
52 MB. While another connection's read holds part of the log back, no checkpoint can finish
it: each chunk then waits for one (milliseconds) and the log starts again once the read ends.
PostgreSQL and SQLite outside WAL mode (or inside a test's transaction) are left as they are.
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
_WAIT_SECONDS = 30


class Checkpointer:
    """Runs a passive checkpoint in its own thread each time `committed()` is called; with no
    database (PostgreSQL, SQLite not in WAL mode), does nothing. `restart_after`: the log's
    size in pages past which committed() waits for the checkpoint (see the module's doc)."""

    def __init__(self, database: str | None, restart_after: int = WAL_AUTOCHECKPOINT_PAGES):
        self.restart_after = restart_after
        self.log_pages = 0  # the log's size at the last checkpoint
        self.checkpoints = 0  # run so far: for tests and benchmarks
        self.waits = 0  # times committed() waited for one
        # Commits counted by the import's thread, and the last one a checkpoint covered.
        self._changed = threading.Condition()
        self._commits = 0
        self._copied = 0
        self._running = True  # False once the thread is gone: nothing to wait for
        self._stopping = False
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
        """A chunk has committed: its pages may go into the database. Waits for that when the
        log has grown long, so that the next commit writes it from its start."""
        if self._thread is None:
            return
        with self._changed:
            self._commits += 1
            commit = self._commits
            self._changed.notify_all()
            if self.log_pages > self.restart_after:
                self.waits += 1
                # Bounded: a chunk's pages are copied in milliseconds; should the disk stall,
                # the import goes on with a longer log rather than waiting on it.
                self._changed.wait_for(
                    lambda: self._copied >= commit or not self._running, _WAIT_SECONDS
                )

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if self._thread:
            self._thread.join()

    def _run(self, database: str) -> None:
        try:
            # Its own connection: Django's belongs to the import's thread. A passive
            # checkpoint takes no lock that makes it wait, so the timeout only covers opening.
            db = sqlite3.connect(database, timeout=5, isolation_level=None)
        except sqlite3.Error:
            logger.warning("import checkpoints: cannot open %s", database, exc_info=True)
            self._gone()
            return
        try:
            while True:
                with self._changed:
                    self._changed.wait_for(lambda: self._stopping or self._commits > self._copied)
                    if self._stopping:
                        return
                    commit = self._commits
                log_pages = self._checkpoint(db)
                with self._changed:
                    self.log_pages = log_pages
                    self.checkpoints += 1
                    self._copied = commit
                    self._changed.notify_all()
        except sqlite3.Error:
            # The import goes on; its log is copied by the next other connection to commit
            # (at its own limit) or by the import's after it, whose limit is then restored.
            logger.warning("import checkpoints stopped", exc_info=True)
        finally:
            self._gone()
            db.close()

    @staticmethod
    def _checkpoint(db: sqlite3.Connection) -> int:
        """Copies the log into the database; returns the log's size in pages."""
        # (busy, pages in the log, pages copied): busy when a reader's snapshot holds part of
        # the log back; the rest is copied all the same.
        _, log_pages, _ = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return log_pages

    def _gone(self) -> None:
        with self._changed:
            self._running = False
            self._changed.notify_all()


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
