"""Where an import job's file waits between the upload and the job's last chunk.

Each chunk commits the job's progress together with its contacts, so the job's row is
updated once per 5,000 rows. PostgreSQL keeps a large bytea out of line (TOAST) and leaves it
alone when other columns change: there the file stays in the row (`file_data`), where a worker
on any host finds it. SQLite rewrites the whole row on every UPDATE: a 28 MB file in the row
cost 28 MB of copying per chunk, 100 times over for 500,000 rows (135 ms each on a busy
machine). There the file is kept beside the database, in MIFUMO_DATA_DIR/imports/, which the
workers of an embedded installation share with it.

A task reads the file as a stream (from its file, or copied from PostgreSQL slice by slice into
a temporary file), so a worker's memory does not grow with the file. PostgreSQL stores the
column uncompressed (migration contacts 0006): compressing a workbook's kept rows (JSON) cost
its server more than it saved, and each slice of a compressed value is decompressed from its
start.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import connection

from mifumo.contacts.imports.bulksql import driver_cursor
from mifumo.contacts.imports.models import ImportJob, ImportStatus
from mifumo.contacts.imports.sniff import FileRejected

# Slices of the stored file read per query on PostgreSQL: memory per task, not per file.
SLICE_BYTES = 4 * 1024 * 1024
# Slices written per query on PostgreSQL: larger than any upload the API takes (10 MB), which
# goes in one statement as before; a larger file (an import made below the API) is appended
# slice by slice, so its creation holds one slice, not the whole file (a 28 MB CSV: 172 MB at
# its peak). Each append rewrites the value so far: bytes written grow with the square of
# the file's size over the slice's, a price paid only past the API's limit.
KEEP_SLICE_BYTES = 16 * 1024 * 1024
# A file whose job is gone (its tenant deleted, its creation rolled back) is removed after this.
ORPHAN_AFTER_SECONDS = 24 * 3600


_TABLE = ImportJob._meta.db_table


def _in_row() -> bool:
    return connection.vendor != "sqlite"


def _path(job_id) -> Path:
    return Path(settings.DATA_DIR) / "imports" / f"{job_id}.upload"


def size_of(stream: BinaryIO) -> int:
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    return size


def keep(job_id, stream: BinaryIO) -> None:
    """Store the upload for the job; the caller holds the transaction that made the job."""
    stream.seek(0)
    if _in_row():
        # The driver's own cursor sends the bytes as they are (binary); Django's would quote
        # them into the SQL text as hex, three times the file's size in memory.
        with driver_cursor() as cursor:
            cursor.execute(
                f"UPDATE {_TABLE} SET file_data = %b WHERE id = %s",  # noqa: S608
                [stream.read(KEEP_SLICE_BYTES), job_id],
            )
            while part := stream.read(KEEP_SLICE_BYTES):
                cursor.execute(
                    f"UPDATE {_TABLE} SET file_data = file_data || %b WHERE id = %s",  # noqa: S608
                    [part, job_id],
                )
        return
    path = _path(job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with open(partial, "wb") as target:
        shutil.copyfileobj(stream, target, 1024 * 1024)
    os.replace(partial, path)


@contextmanager
def opened(job_id) -> Iterator[BinaryIO]:
    """The job's file as a binary stream, for as long as the block runs."""
    if not _in_row():
        try:
            handle = open(_path(job_id), "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise FileRejected("The uploaded file is no longer there.") from None
        with handle:
            yield handle
        return
    with tempfile.TemporaryFile() as copy:
        for part in _slices(job_id):
            copy.write(part)
        copy.seek(0)
        yield copy


def _slices(job_id) -> Iterable[bytes]:
    start = 1  # substring() counts from 1
    with driver_cursor() as cursor:
        while True:
            cursor.execute(
                f"SELECT substring(file_data FROM %s FOR %s) FROM {_TABLE} WHERE id = %s",  # noqa: S608
                [start, SLICE_BYTES, job_id],
                binary=True,  # the bytes as they are, not as hex text
            )
            found = cursor.fetchone()
            part = found[0] if found else b""
            if part:
                yield part
            if len(part) < SLICE_BYTES:
                return
            start += SLICE_BYTES


def drop(job_id) -> None:
    """The job has ended: its file is not needed any more (the row's copy is emptied by the
    update that ends the job)."""
    if not _in_row():
        _path(job_id).unlink(missing_ok=True)


def remove_orphans() -> None:
    """Remove the files of jobs that no longer exist (their tenant was deleted, their creation
    rolled back) or have ended (a task died between the two steps), after a day. SQLite only:
    PostgreSQL's files go with their rows."""
    directory = _path("x").parent
    if _in_row() or not directory.is_dir():
        return
    stale = time.time() - ORPHAN_AFTER_SECONDS
    old = {p.name.split(".", 1)[0]: p for p in directory.iterdir() if p.stat().st_mtime < stale}
    if not old:
        return
    running = ImportJob.objects.filter(
        status__in=[ImportStatus.PENDING, ImportStatus.RUNNING]
    ).values_list("pk", flat=True)
    live = {str(pk) for pk in running}
    for job_id, path in old.items():
        if job_id not in live:
            path.unlink(missing_ok=True)
