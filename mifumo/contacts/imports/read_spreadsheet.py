"""XLSX, XLS and ODS through python-calamine (Rust): fast, and no XML parser of ours to harden.

Archives have been inspected by sniff.inspect_archive() before a workbook is opened here.
Cells come back as Python values: text, numbers (a phone typed without a leading apostrophe
is a float: 255712345678.0), booleans, dates. The first sheet is read unless one is named.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from python_calamine import CalamineError, CalamineWorkbook, PasswordError

from mifumo.contacts.imports.sniff import FileRejected
from mifumo.contacts.imports.table import Row, Table

_KIND_NAMES = {"xlsx": "Excel (XLSX)", "xls": "Excel 97-2003 (XLS)", "ods": "OpenDocument (ODS)"}


def open_spreadsheet(stream: BinaryIO, kind: str, sheet_name: str = "") -> Table:
    stream.seek(0)
    try:
        workbook = CalamineWorkbook.from_filelike(stream)
    except PasswordError:
        raise FileRejected("The workbook is protected by a password; remove it first.") from None
    except (CalamineError, ValueError, OSError) as error:
        raise FileRejected(
            f"The file cannot be read as an {_KIND_NAMES[kind]} workbook ({error})."
        ) from None
    names = workbook.sheet_names
    if not names:
        raise FileRejected("The workbook has no sheets.")
    if sheet_name and sheet_name not in names:
        raise FileRejected(
            f"The workbook has no sheet named {sheet_name!r}; its sheets are: {', '.join(names)}."
        )
    name = sheet_name or names[0]
    try:
        sheet = workbook.get_sheet_by_name(name)
    except (CalamineError, ValueError) as error:
        raise FileRejected(f"The sheet {name!r} cannot be read ({error}).") from None
    details = {"sheet": name, "sheets": names}
    return Table(rows=_rows(sheet), details=details, close=workbook.close)


def _rows(sheet) -> Iterator[Row]:
    # iter_rows() starts at the sheet's first row (blank rows above the data included), so
    # the position is the row number the spreadsheet program shows.
    yield from enumerate(sheet.iter_rows(), start=1)
