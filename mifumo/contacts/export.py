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

from mifumo.contacts.filters import NameSearch, id_list
from mifumo.contacts.models import Contact
from mifumo.contacts.serializers import group_refs, tag_names, with_relations
from mifumo.tenancy.errors import ApplicationError

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
STANDARD_COLUMNS = ["name", "phone_e164", "email", "tags", "groups", "is_active", "opted_out"]
CHUNK = 2000


def neutralise(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def _selections(contacts: QuerySet, search: NameSearch | None) -> Iterator[QuerySet]:
    """The contacts to write, oldest first, as querysets to read one after the other. A name
    search alone (filters.ContactFilter.name_search_alone) is read by ids, CHUNK at a time,
    from its word rows sorted by the contacts' created_at (from the index alone): through
    the general condition, PostgreSQL gathered the 50,000 "juma"s of a million contacts in
    a hash to sort the whole rows afterwards, on disk."""
    if search is None:
        yield contacts.order_by("created_at", "id")
        return
    ids = search.rows().order_by("created_at", "contact_id").values_list("contact_id", flat=True)
    chunk: list = []
    for contact_id in ids.iterator(chunk_size=CHUNK):
        chunk.append(contact_id)
        if len(chunk) == CHUNK:
            yield contacts.filter(pk__in=id_list(chunk)).order_by("created_at", "id")
            chunk = []
    if chunk:
        yield contacts.filter(pk__in=id_list(chunk)).order_by("created_at", "id")


def _attribute_columns(contacts: QuerySet, search: NameSearch | None) -> list[str]:
    keys: set[str] = set()
    for selection in _selections(contacts, search):
        for attributes in selection.values_list("attributes", flat=True).iterator(chunk_size=CHUNK):
            keys.update(attributes or {})
    return sorted(keys, key=str.lower)


def _header(attribute_keys: list[str]) -> list[str]:
    # An attribute called like a standard column is exported as "attributes.<name>".
    return STANDARD_COLUMNS + [
        f"attributes.{key}" if key in STANDARD_COLUMNS else key for key in attribute_keys
    ]


def _rows(
    contacts: QuerySet, search: NameSearch | None, attribute_keys: list[str]
) -> Iterator[list]:
    for selection in _selections(contacts, search):
        # The tag and group names as the API reads them (serializers.with_relations): a
        # related manager's .all() per contact and relation was most of the export's time.
        for contact in with_relations(selection).iterator(chunk_size=CHUNK):
            yield _row(contact, attribute_keys)


def _row(contact: Contact, attribute_keys: list[str]) -> list:
    return [
        contact.name,
        contact.phone_e164,
        contact.email,
        ", ".join(tag_names(contact)),
        ", ".join(sorted(ref["name"] for ref in group_refs(contact))),
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


def _csv_stream(contacts: QuerySet, search: NameSearch | None) -> Iterator[str]:
    keys = _attribute_columns(contacts, search)
    writer = csv.writer(_Echo())
    yield "\ufeff"  # a BOM, so Excel reads the file as UTF-8 (Swahili and French names intact)
    # Attribute names are the tenant's own text too: the header is neutralised like the rows.
    yield writer.writerow([neutralise(title) for title in _header(keys)])
    for row in _rows(contacts, search, keys):
        yield writer.writerow([neutralise(_text(value)) for value in row])


def _xlsx_file(contacts: QuerySet, search: NameSearch | None):
    keys = _attribute_columns(contacts, search)
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
    for row_number, row in enumerate(_rows(contacts, search, keys), start=1):
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


def contacts_export_response(
    contacts: QuerySet[Contact], file_format: str, *, search: NameSearch | None = None
):
    """`contacts` filtered by the list's filters, or, given a name search alone (`search`),
    all the tenant's contacts: the search's are read from its word rows."""
    stamp = now().strftime("%Y%m%d-%H%M")
    if file_format == "csv":
        response = StreamingHttpResponse(_csv_stream(contacts, search), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="contacts-{stamp}.csv"'
        return response
    if file_format == "xlsx":
        return FileResponse(
            _xlsx_file(contacts, search),
            as_attachment=True,
            filename=f"contacts-{stamp}.xlsx",
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    raise ApplicationError(
        "file_format must be csv or xlsx.",
        error_code="validation_error",
        details={"file_format": [f"{file_format!r} is not one of csv, xlsx."]},
    )
