"""CSV and other delimited text, as spreadsheet programs and phones write it.

Encodings: UTF-8 with or without a byte order mark, UTF-16 (Excel's "Unicode text", which is
also tab-separated), then Windows-1252 and Latin-1 for files saved by older Excel on Windows.
Delimiters: comma, semicolon (Excel in French and other comma-decimal locales), tab and pipe,
chosen by which one splits the first lines into the same number of columns; Excel's `sep=;`
first line is honoured. Rows stream from the file, so memory stays flat for any size.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
from collections.abc import Iterator
from typing import BinaryIO

from mifumo.contacts.imports.sniff import FileRejected
from mifumo.contacts.imports.table import Row, Table

DELIMITERS = (",", ";", "\t", "|")
_SAMPLE_CHARS = 64 * 1024
_BLOCK = 256 * 1024


def detect_encoding(stream: BinaryIO) -> str:
    stream.seek(0)
    head = stream.read(4096)
    stream.seek(0)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if len(head) >= 4 and head[1:2] == b"\x00" and head[3:4] == b"\x00":
        return "utf-16-le"
    if len(head) >= 4 and head[0:1] == b"\x00" and head[2:3] == b"\x00":
        return "utf-16-be"
    for encoding in ("utf-8", "cp1252"):
        if _decodes(stream, encoding):
            return encoding
    return "latin-1"  # every byte is a Latin-1 character


def _decodes(stream: BinaryIO, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    stream.seek(0)
    try:
        while block := stream.read(_BLOCK):
            decoder.decode(block)  # the text is thrown away: only validity matters here
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    finally:
        stream.seek(0)
    return True


def _choose_delimiter(sample: str) -> str:
    """The delimiter that splits the sample's lines into the most columns, consistently."""
    lines = sample.splitlines()[:30]
    if len(lines) > 1 and len(sample) >= _SAMPLE_CHARS:
        lines = lines[:-1]  # the sample may have cut the last line in two
    best, best_score = ",", (0.0, 0)
    for delimiter in DELIMITERS:
        counts = [len(row) for row in csv.reader(lines, delimiter=delimiter) if row]
        if not counts:
            continue
        widest = max(set(counts), key=counts.count)
        if widest < 2:
            continue
        score = (counts.count(widest) / len(counts), widest)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def open_csv(stream: BinaryIO, *, first_row: int = 1) -> Table:
    """The file's rows from row number `first_row` on (a resumed job's place)."""
    encoding = detect_encoding(stream)
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    sample = text.read(_SAMPLE_CHARS)
    text.seek(0)
    delimiter, skip_sep_line = None, False
    first_line = sample.split("\n", 1)[0].strip("\r\ufeff")
    if first_line.lower().startswith("sep=") and len(first_line) == 5:
        delimiter, skip_sep_line = first_line[4], True
    delimiter = delimiter or _choose_delimiter(sample)
    details = {"encoding": encoding.removesuffix("-sig"), "delimiter": delimiter}
    rows = _rows(text, delimiter, skip_sep_line, first_row)
    return Table(rows=rows, details=details, close=text.detach)


def _rows(
    text: io.TextIOWrapper, delimiter: str, skip_sep_line: bool, first_row: int
) -> Iterator[Row]:
    if skip_sep_line:
        next(text, None)
    number = 0
    try:
        if first_row > 1:
            # A resumed job passes over the rows done before at the csv module's own speed
            # (they were checked then); a reader stops at the end of its row, so the next
            # one carries on from there.
            number = sum(
                1 for _ in itertools.islice(csv.reader(text, delimiter=delimiter), first_row - 1)
            )
    except csv.Error as error:
        raise _structure_error(number + 1, error) from None
    except UnicodeDecodeError:
        raise FileRejected("The file is not text in any encoding we know.") from None
    lines = _TrackedLines(text)
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        for cells in reader:
            number += 1
            # A row over several lines is a quoted cell with line breaks, and its quotes come
            # in pairs, unless the file ended inside the cell: a quote that never closes (on
            # the last line, the row is one line; strict reading tells it from `5" screen`).
            record = "".join(lines.current)
            if record.count('"') % 2 and _ends_inside_quotes(record, delimiter):
                raise FileRejected(
                    f'Row {number}: a quote (") opens a cell that is never closed, so '
                    "everything after it would be read as one cell. Close or remove the quote "
                    "and upload the file again."
                )
            yield number, cells
            lines.current.clear()
    except csv.Error as error:
        raise _structure_error(number + 1, error) from None
    except UnicodeDecodeError:
        raise FileRejected("The file is not text in any encoding we know.") from None


def _ends_inside_quotes(record: str, delimiter: str) -> bool:
    try:
        list(csv.reader(io.StringIO(record, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as error:
        return "unexpected end of data" in str(error)
    return False


def _structure_error(row: int, error: csv.Error) -> FileRejected:
    reason = str(error)
    if "field larger than field limit" in reason:
        return FileRejected(
            f"Row {row}: a cell is longer than {csv.field_size_limit():,} characters; a quote "
            '(") may be missing its closing quote.'
        )
    if "NUL" in reason:
        return FileRejected("The file contains NUL bytes: it is not a text (CSV) file.")
    return FileRejected(f"Row {row}: the file is not valid CSV ({reason}).")


class _TrackedLines:
    """Physical lines, remembering those of the record being read (to spot an open quote)."""

    def __init__(self, text: io.TextIOWrapper) -> None:
        self._lines = iter(text)
        self.current: list[str] = []

    def __iter__(self) -> _TrackedLines:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.current.append(line)
        return line
