"""Bulk INSERT ... ON CONFLICT for SQLite and PostgreSQL: a few statements per chunk.

Django's bulk_create costs about 50 µs a row in Python (a model instance, then every field
prepared one by one) and cannot return which rows ON CONFLICT DO NOTHING skipped. Imports
write tens of thousands of rows, so they build the statements here from values prepared once
per chunk. Both databases speak the same INSERT ... ON CONFLICT ... RETURNING; they differ in
how many rows one statement should carry:
- PostgreSQL: the whole chunk in one statement, as one array per column through unnest().
  A VALUES list of 5,000 rows spends longer being planned than being inserted.
- SQLite: VALUES lists of 256 rows (and powers of two for the rest): see _batches().
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connection

_BATCH_ROWS = 256
# SQLite: pages of write-ahead log after which the committing connection copies it into the
# database (see tune_connection; an import job hands this to a thread of its own: wal.py).
WAL_AUTOCHECKPOINT_PAGES = 10_000


def insert_rows(
    model,
    columns: Sequence[str],
    rows: Sequence[tuple],
    *,
    conflict: Sequence[str] | None = None,
    update: Sequence[str] = (),
    returning: str | None = None,
) -> Any:
    """INSERT `rows` (tuples of database-ready values for `columns`) into model's table.

    conflict=None: no ON CONFLICT clause; [] : ON CONFLICT DO NOTHING whatever the clash;
    [columns]: the clash on that unique index, then DO NOTHING, or DO UPDATE SET `update`
    columns to the new row's values. Returns how many rows were written (DO NOTHING skips
    the clashing ones), or with `returning` that column of each row written. UUID columns
    take 32 hex digits on both databases."""
    if not rows:
        return [] if returning else 0
    qn = connection.ops.quote_name
    tail = ""
    if conflict is not None:
        target = f"({', '.join(qn(c) for c in conflict)}) " if conflict else ""
        if update:
            sets = ", ".join(f"{qn(c)} = excluded.{qn(c)}" for c in update)
            tail = f" ON CONFLICT {target}DO UPDATE SET {sets}"
        else:
            tail = f" ON CONFLICT {target}DO NOTHING"
    if returning:
        tail += f" RETURNING {qn(returning)}"
    head = f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(c) for c in columns)}) "
    if connection.vendor == "postgresql":
        return _insert_unnest(model, columns, rows, head, tail, bool(returning))
    return _insert_values(columns, rows, head, tail, bool(returning))


def _insert_unnest(model, columns, rows, head, tail, returning: bool) -> Any:
    by_column = {f.column: f for f in model._meta.local_concrete_fields}
    picks, scalars, arrays, unnested = [], [], [], []
    for index, (column, values) in enumerate(zip(columns, zip(*rows, strict=True), strict=True)):
        db_type = by_column[column].db_type(connection)
        sent = "text" if db_type in ("jsonb", "uuid") else db_type  # JSON, hex digits: cast
        cast = f"::{db_type}" if sent != db_type else ""
        # A column with one value for every row (the tenant, the chunk's time, an empty
        # opt-out...) is sent once, not as an array: psycopg dumps an array's elements one by
        # one in Python, about half of the client's time per chunk when all went as arrays.
        if values.count(values[0]) == len(values):
            picks.append(f"%b::{sent}{cast}")
            scalars.append(values[0])
        else:
            picks.append(f"c{index}{cast}")
            unnested.append((f"c{index}", f"%b::{sent}[]"))
            arrays.append(list(values))
    if not unnested:  # one row, or rows all alike: still one row per row
        unnested.append(("c", "%b::int[]"))
        arrays.append(list(range(len(rows))))
    # Identifiers come from the model's metadata and types from its fields; values are
    # parameters. So are they in every statement below.
    sql = (
        f"{head}SELECT {', '.join(picks)} FROM unnest("  # noqa: S608
        # %b: the arrays travel in binary; as text, psycopg quotes every element with regexes.
        + ", ".join(param for _, param in unnested)
        + f") AS rows({', '.join(name for name, _ in unnested)}){tail}"
    )
    with driver_cursor() as cursor:
        cursor.execute(sql, [*scalars, *arrays])
        return [value for (value,) in cursor.fetchall()] if returning else cursor.rowcount


def _insert_values(columns, rows, head, tail, returning: bool) -> Any:
    written, returned = 0, []
    with driver_cursor() as cursor:
        one = "(" + ", ".join(["?"] * len(columns)) + ")"
        for batch in _batches(rows, len(columns)):
            params = [value for row in batch for value in row]
            cursor.execute(f"{head}VALUES {', '.join([one] * len(batch))}{tail}", params)
            if returning:
                returned.extend(value for (value,) in cursor.fetchall())
            else:
                written += cursor.rowcount
    return returned if returning else written


def _batches(rows: Sequence, width: int) -> Iterator[Sequence]:
    """Slices of 256 rows, then of powers of two for the rest (128, 64, ... 1).

    Python's sqlite3 keeps the last 128 statements prepared, and a prepared INSERT of a few
    thousand rows holds megabytes: with a new length in every chunk, a 50,000-row import
    grew by 80 MB. A handful of lengths keeps the cache small and reused."""
    size = min(_BATCH_ROWS, max(1, _sqlite_max_params() // width))
    start = 0
    while start < len(rows):
        left = len(rows) - start
        step = size if left >= size else 1 << (left.bit_length() - 1)
        yield rows[start : start + step]
        start += step


def _sqlite_max_params() -> int:
    connection.ensure_connection()
    return connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)


def tune_connection() -> None:
    """SQLite, for this connection (a worker's; outside a transaction only, as SQLite refuses
    the first change inside one):

    - Statement journals in memory. A multi-row INSERT that may fail half-way (ON CONFLICT,
      CHECK) keeps the original of every page it changes in a statement journal, a temporary
      file past 64 KB: a 50,000-row import wrote 140,000 pages to such files (strace: 195,000
      pwrite calls, 56,000 without), for nothing, since the journal is thrown away when the
      statement ends. In memory it holds one statement's pages at a time (a few MB at most).
    - A checkpoint every 10,000 pages of WAL (40 MB) instead of 1,000: each chunk's commit
      wrote over 1,000 pages, so each one copied the WAL into the database and waited for the
      disk twice (28 fdatasync calls per 50,000 rows, 1 s in all on this shared disk), and
      index pages that every chunk changes were copied again each time."""
    if connection.vendor == "sqlite" and not connection.in_atomic_block:
        connection.ensure_connection()
        connection.connection.execute("PRAGMA temp_store = MEMORY")
        connection.connection.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")


@contextmanager
def driver_cursor():
    """The driver's own cursor, in Django's transaction. Django's cursor costs more than the
    INSERTs here: on SQLite it rewrites every %s into ? with a regex; on PostgreSQL it is a
    ClientCursor, which quotes 50,000 values into the SQL text one regex at a time, where a
    plain psycopg cursor sends the arrays beside the query, in binary."""
    connection.ensure_connection()
    if connection.vendor == "postgresql":
        import psycopg

        cursor = psycopg.Cursor(connection.connection)
    else:
        cursor = connection.connection.cursor()
    try:
        yield cursor
    finally:
        cursor.close()
