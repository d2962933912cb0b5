"""The import pipeline: file -> reader -> header and column mapping -> normalise -> upsert.

`inspect_file` reads a file once, start to end: it refuses file-level problems (type, safety,
structure, no phone column), finds the header row, guesses the mapping and counts the rows;
for a job, it keeps a workbook's rows as it reads them (read_rows.py). `data_rows` reads the
file again (or the kept rows) for the import itself, and `import_chunk` turns a
chunk of rows into contacts. Rows are streamed, never all held at once, so memory stays flat
for any number of rows; the caller decides how many chunks to take at a time.
"""

from __future__ import annotations

import io
import itertools
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO

from django.db import connection
from django.utils.timezone import now

from mifumo.contacts.imports import bulksql, read_rows, sniff
from mifumo.contacts.imports import mapping as m
from mifumo.contacts.imports.normalise import (
    ContactRow,
    PhoneReader,
    RowError,
    RowNormaliser,
    RowProblem,
    cell_text,
    is_blank,
)
from mifumo.contacts.imports.read_csv import open_csv
from mifumo.contacts.imports.read_json import open_json
from mifumo.contacts.imports.read_spreadsheet import open_spreadsheet
from mifumo.contacts.imports.read_vcard import open_vcard
from mifumo.contacts.imports.sniff import FileRejected
from mifumo.contacts.imports.table import Row, Table
from mifumo.contacts.imports.upsert import ChunkResult, Plan, Policy, plan_chunk, upsert_chunk
from mifumo.tenancy.models import Tenant

PREVIEW_ROWS = 20
HEADER_SEARCH_ROWS = 10  # title rows above the header ("Form 2B, 2025") are skipped
MAX_COLUMNS = 500


def open_table(data: bytes | BinaryIO, *, sheet: str = "", first_row: int = 1) -> Table:
    """The file's rows; a reader that can skip quickly starts at `first_row`, the others may
    yield earlier rows too."""
    kind, stream = sniff.open_upload(data)
    if kind == sniff.CSV:
        table = open_csv(stream, first_row=first_row)
    elif kind in sniff.SPREADSHEETS:
        table = open_spreadsheet(stream, kind, sheet)
    elif kind == sniff.VCARD:
        table = open_vcard(stream)
    else:
        table = open_json(stream)
    table.details["format"] = kind
    return table


@dataclass
class FileSummary:
    file_format: str
    details: dict[str, Any]
    header_row: int  # 0: no header row (vCard, JSON, a bare list of numbers)
    mapping: m.Mapping
    total_rows: int  # non-blank rows after the header
    preview: list[dict[str, Any]] = field(default_factory=list)
    rows_kept: bool = False  # the rows were written to inspect_file()'s `keep_rows`


def inspect_file(
    data: bytes | BinaryIO,
    *,
    region: str,
    sheet: str = "",
    overrides: dict[str, str] | None = None,
    max_rows: int | None = None,
    require_phone: bool = True,
    keep_rows: BinaryIO | None = None,
) -> FileSummary:
    """Read the whole file once; raise FileRejected for anything that stops all of it.

    `require_phone=False` lets a file without a recognised phone column through, so the
    client can map one in the preview step; check_mapping() refuses it before the import.
    With `keep_rows`, a workbook's rows after the header are written there as
    read_rows.open_rows() reads them (summary.rows_kept), so that they are not parsed again."""
    with open_table(data, sheet=sheet) as table:
        header_row, mapping, rows = _find_header(table, region, overrides or {})
        if overrides:
            try:
                mapping = m.apply_overrides(mapping, overrides)
            except ValueError as error:
                raise FileRejected(str(error), error_code="invalid_mapping") from None
        if require_phone:
            check_mapping(mapping)
        count, preview = 0, []
        writer = None
        if keep_rows is not None and table.details["format"] in sniff.SPREADSHEETS:
            writer = read_rows.RowsWriter(keep_rows)
        for number, cells in rows:
            if is_blank(cells):
                continue
            count += 1
            if writer is not None:
                writer.add(number, cells)
            if max_rows is not None and count > max_rows:
                raise FileRejected(
                    f"At most {max_rows} contacts per request; this file has more. Upload it "
                    "at /api/messaging/contacts/imports/ instead, which takes any number.",
                    error_code="too_many_rows",
                )
            if len(preview) < PREVIEW_ROWS:
                width = len(mapping.columns)
                preview.append({"row": number, "cells": [cell_text(c) for c in cells[:width]]})
        if count == 0:
            raise FileRejected("The file has no contacts in it.", error_code="empty_file")
        if writer is not None:
            writer.close()
        return FileSummary(
            file_format=table.details["format"],
            details={k: v for k, v in table.details.items() if k != "format"},
            header_row=header_row,
            mapping=mapping,
            total_rows=count,
            preview=preview,
            rows_kept=writer is not None,
        )


def check_mapping(mapping: m.Mapping) -> None:
    if not mapping.has(m.PHONE):
        raise FileRejected(
            "No phone number column found. Name one of: phone, phone number, mobile, msisdn, "
            "simu, téléphone; or map one in the preview step. Columns: "
            f"{', '.join(mapping.columns) or 'none'}.",
            error_code="no_phone_column",
        )


def _find_header(
    table: Table, region: str, overrides: dict[str, str]
) -> tuple[int, m.Mapping, Iterator[Row]]:
    rows = iter(table.rows)
    if table.made_up_header:
        number, header = next(rows)
        return 0, m.detect_mapping(header), rows
    seen: list[Row] = []
    for number, cells in rows:
        if is_blank(cells):
            continue
        if len(cells) > MAX_COLUMNS:
            raise FileRejected(f"Row {number} has {len(cells):,} columns; at most {MAX_COLUMNS}.")
        seen.append((number, cells))
        named = {cell_text(c) for c in cells} & set(overrides)
        if m.looks_like_header(cells) or named:
            return number, m.detect_mapping(cells), rows
        if len(seen) >= HEADER_SEARCH_ROWS:
            break
    if not seen:
        raise FileRejected("The file has no contacts in it.", error_code="empty_file")
    headerless = _headerless_mapping(seen[0][1], region)
    if headerless is not None:  # a bare list of numbers: no header row at all
        return 0, headerless, itertools.chain(seen, rows)
    number, cells = seen[0]
    return number, m.detect_mapping(cells), itertools.chain(seen[1:], rows)


def _headerless_mapping(cells: list[Any], region: str) -> m.Mapping | None:
    read_phone = PhoneReader(region)
    fields = []
    for cell in cells:
        try:
            read_phone(cell)
            is_phone = True
        except ValueError:
            is_phone = False
        text = cell_text(cell)
        if is_phone and m.PHONE not in fields:
            fields.append(m.PHONE)
        elif "@" in text and m.EMAIL not in fields:
            fields.append(m.EMAIL)
        elif text and not any(ch.isdigit() for ch in text) and m.NAME not in fields:
            fields.append(m.NAME)
        else:
            fields.append(m.ATTRIBUTE)
    if m.PHONE not in fields:
        return None
    columns = [m._column_name("", index) for index in range(len(cells))]
    return m.Mapping(columns=columns, fields=fields)


def data_rows(
    data: bytes | BinaryIO,
    *,
    sheet: str = "",
    header_row: int,
    start_row: int = 0,
    file_format: str = "",
) -> Iterator[Row]:
    """The rows after the header (from row number `start_row` on), as the file has them.

    A workbook's (`file_format`) may have been kept as rows (read_rows.py): those are read as
    such. Jobs made before rows were kept, or made by another path, keep the workbook."""
    first = max(header_row + 1, start_row, 1)
    stream = io.BytesIO(data) if isinstance(data, bytes | bytearray | memoryview) else data
    if file_format in sniff.SPREADSHEETS and read_rows.is_rows(stream):
        yield from read_rows.open_rows(stream, first_row=first).rows
        return
    with open_table(stream, sheet=sheet, first_row=first) as table:
        for number, cells in table.rows:
            if number >= first:
                yield number, cells


def chunks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    """Lists of up to `size` non-blank rows."""
    chunk: list[Row] = []
    for row in rows:
        if not is_blank(row[1]):
            chunk.append(row)
            if len(chunk) >= size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


@dataclass
class Prepared:
    """A chunk of rows, normalised: ready to be written."""

    rows: int  # non-blank rows in the chunk
    last_row: int  # the row number of its last row
    contacts: list[ContactRow]
    errors: list[RowError]
    plan: Plan | None = None  # the contacts' statement values, made with them


@dataclass
class Importer:
    """Imports chunks of rows for one tenant with one mapping and one duplicate policy.

    `started_at` is the import's start, the same for all its chunks and tasks (a job's
    started_at): guardians it creates are stamped with it (see upsert.py)."""

    tenant: Tenant
    mapping: m.Mapping
    policy: Policy
    started_at: datetime | None = None

    def __post_init__(self) -> None:
        self.normalise = RowNormaliser(self.mapping, self.tenant.default_region)
        bulksql.tune_connection()
        # Taken here, in the caller's thread: prepare() may run in a thread of its own, which
        # must not open a connection of its own.
        self.ops = connection.ops
        if self.started_at is None:
            self.started_at = now()
        # Without a guardian column no row makes a guardian, so none is looked for.
        self.guardians_made_at = self.started_at if self.mapping.has(m.GUARDIAN_PHONE) else None

    def prepare(self, rows: list[Row]) -> Prepared:
        """Normalise a chunk: no database work, so it may run in another thread."""
        contacts, errors = [], []
        for number, cells in rows:
            try:
                contacts.append(self.normalise(number, cells))
            except RowProblem as problem:
                errors.append(
                    RowError(number, problem.column, str(problem.value)[:200], problem.reason)
                )
        # The statement values too: on PostgreSQL the server inserts the chunk before while
        # this thread makes them, rather than waiting for them.
        plan = plan_chunk(self.tenant, contacts, self.policy, self.ops) if contacts else None
        return Prepared(len(rows), rows[-1][0], contacts, errors, plan)

    def write(self, prepared: Prepared) -> ChunkResult:
        """Upsert a prepared chunk; the caller holds the transaction."""
        result = upsert_chunk(
            tenant=self.tenant,
            rows=prepared.contacts,
            policy=self.policy,
            guardians_made_at=self.guardians_made_at,
            plan=prepared.plan,
        )
        result.errors = sorted([*prepared.errors, *result.errors], key=lambda e: e.row)
        return result

    def import_chunk(self, rows: list[Row]) -> ChunkResult:
        return self.write(self.prepare(rows))

    def prepared_chunks(self, rows: Iterable[Row], size: int) -> Iterator[Prepared]:
        """Chunks read and normalised in a thread of their own, one chunk ahead.

        The database works on one chunk while this thread reads and normalises the next:
        SQLite and the PostgreSQL driver let go of the interpreter lock while they work, so
        on two cores the two overlap. The thread never touches the database."""
        ahead: queue.Queue = queue.Queue(maxsize=1)
        stop = threading.Event()

        def produce() -> None:
            try:
                for chunk in chunks(rows, size):
                    item = self.prepare(chunk)
                    while not stop.is_set():
                        try:
                            ahead.put(item, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                item = _END
            except BaseException as error:  # re-raised in the caller's thread
                item = error
            finally:
                close = getattr(rows, "close", None)
                if close is not None:
                    close()
            while not stop.is_set():
                try:
                    ahead.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue

        worker = threading.Thread(target=produce, name="import-reader", daemon=True)
        worker.start()
        try:
            while True:
                item = ahead.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            worker.join()


_END = object()
