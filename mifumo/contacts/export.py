"""Contacts out as CSV or XLSX, safe to open in a spreadsheet program.

A cell that begins with = + - @, a tab or a carriage return is a formula to Excel and
LibreOffice ("CSV injection"). In CSV such a cell gets a leading apostrophe, which spreadsheet
programs show as a text marker and Mifumo's importer strips. In XLSX every value is written as
a string cell, which is never evaluated, with Excel's quote-prefix style on the risky ones, so
an edit in Excel does not turn it into a formula either; the value itself stays exact.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterator

import xlsxwriter
from django.db.models import QuerySet
from django.http import FileResponse, StreamingHttpResponse
from django.utils.timezone import now

from mifumo.contacts.models import Contact
from mifumo.tenancy.errors import ApplicationError

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
STANDARD_COLUMNS = ["name", "phone_e164", "email", "tags", "groups", "is_active", "opted_out"]
CHUNK = 2000


def neutralise(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def _attribute_columns(contacts: QuerySet) -> list[str]:
    keys: set[str] = set()
    for attributes in contacts.values_list("attributes", flat=True).iterator(chunk_size=CHUNK):
        keys.update(attributes or {})
    return sorted(keys, key=str.lower)


def _header(attribute_keys: list[str]) -> list[str]:
    # An attribute called like a standard column is exported as "attributes.<name>".
    return STANDARD_COLUMNS + [
        f"attributes.{key}" if key in STANDARD_COLUMNS else key for key in attribute_keys
    ]


def _rows(contacts: QuerySet, attribute_keys: list[str]) -> Iterator[list]:
    ordered = contacts.prefetch_related("tags", "groups").order_by("created_at", "id")
    for contact in ordered.iterator(chunk_size=CHUNK):
        yield [
            contact.name,
            contact.phone_e164,
            contact.email,
            ", ".join(sorted((t.name for t in contact.tags.all()), key=str.lower)),
            ", ".join(sorted(g.name for g in contact.groups.all())),
            contact.is_active,
            contact.opted_out_at is not None,
            *(contact.attributes.get(key, "") for key in attribute_keys),
        ]


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_stream(contacts: QuerySet) -> Iterator[str]:
    keys = _attribute_columns(contacts)
    writer = csv.writer(_Echo())
    yield "\ufeff"  # a BOM, so Excel reads the file as UTF-8 (Swahili and French names intact)
    # Attribute names are the tenant's own text too: the header is neutralised like the rows.
    yield writer.writerow([neutralise(title) for title in _header(keys)])
    for row in _rows(contacts, keys):
        yield writer.writerow([neutralise(_text(value)) for value in row])


def _xlsx_file(contacts: QuerySet):
    keys = _attribute_columns(contacts)
    handle = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115 - FileResponse closes it
    # constant_memory writes each row out as it goes: flat memory for any number of contacts.
    workbook = xlsxwriter.Workbook(handle, {"constant_memory": True, "in_memory": False})
    sheet = workbook.add_worksheet("Contacts")
    bold = workbook.add_format({"bold": True})
    bold_quoted = workbook.add_format({"bold": True, "quote_prefix": True})
    quoted = workbook.add_format({"quote_prefix": True})
    for column, title in enumerate(_header(keys)):
        # write_row() would make an attribute called "=1+1" a formula: titles are strings.
        style = bold_quoted if title.startswith(FORMULA_TRIGGERS) else bold
        sheet.write_string(0, column, title, style)
    for row_number, row in enumerate(_rows(contacts, keys), start=1):
        for column, value in enumerate(row):
            if isinstance(value, bool):
                sheet.write_boolean(row_number, column, value)
            elif isinstance(value, int | float) and column >= len(STANDARD_COLUMNS):
                sheet.write_number(row_number, column, value)
            else:
                text = _text(value)
                style = quoted if text.startswith(FORMULA_TRIGGERS) else None
                sheet.write_string(row_number, column, text, style)
    workbook.close()
    handle.seek(0)
    return handle


def contacts_export_response(contacts: QuerySet[Contact], file_format: str):
    stamp = now().strftime("%Y%m%d-%H%M")
    if file_format == "csv":
        response = StreamingHttpResponse(_csv_stream(contacts), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="contacts-{stamp}.csv"'
        return response
    if file_format == "xlsx":
        return FileResponse(
            _xlsx_file(contacts),
            as_attachment=True,
            filename=f"contacts-{stamp}.xlsx",
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    raise ApplicationError(
        "file_format must be csv or xlsx.",
        error_code="validation_error",
        details={"file_format": [f"{file_format!r} is not one of csv, xlsx."]},
    )
