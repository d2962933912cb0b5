"""Hostile files on every upload route the schema lists (contacts bulk-import and import jobs,
SMS bulk-upload): bombs, a file one byte over the limit, a type in disguise and a broken CSV
are refused quickly with a message that says what is wrong, memory stays flat, and nothing
is imported or queued. tests/contacts/imports/test_safety.py goes deeper on the import jobs;
this file holds every upload route to the same line."""

from __future__ import annotations

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from mifumo.contacts.models import Contact
from mifumo.delivery.models import Message
from tests.contacts.imports import builders
from tests.contacts.imports.test_safety import PeakMemory
from tests.factories import client_for
from tests.helpers import assert_error
from tests.security.world import (
    api_schema,
    changes,
    database_state,
    operation_keys,
)

pytestmark = pytest.mark.django_db


def takes_a_file(op) -> bool:
    content = op.spec.get("requestBody", {}).get("content", {}).get("multipart/form-data")
    if content is None:
        return False
    schema = content["schema"]
    if "$ref" in schema:
        schema = api_schema()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return any(p.get("format") == "binary" for p in schema.get("properties", {}).values())


UPLOADS = operation_keys(takes_a_file)


def form_for(key: str, name: str) -> dict:
    """Each route's form around the file (what a client of that route sends)."""
    if key == "POST /api/messaging/contacts/bulk-import/":
        return {"import_type": "csv" if name.endswith(".csv") else "excel"}
    if key == "POST /api/messaging/sms/bulk-upload/":
        return {"schedule_at": "2099-01-15T07:30:00Z"}
    return {}


def post_file(client, key: str, name: str, data: bytes):
    path = key.split(" ", 1)[1]
    form = {**form_for(key, name), "file": SimpleUploadedFile(name, data)}
    return client.post(path, form, format="multipart")


def test_the_upload_routes_are_the_known_ones():
    # A new upload route gets its form in form_for() and, with it, every check below.
    assert set(UPLOADS) == {
        "POST /api/messaging/contacts/bulk-import/",
        "POST /api/messaging/contacts/imports/",
        "POST /api/messaging/sms/bulk-upload/",
    }


def zip_bomb() -> bytes:
    return builders.zip_bomb(unpacked_bytes=2 * 1024**3)  # 2 GB of zeros in ~2 MB


def xml_entity_bomb() -> bytes:
    workbook = builders.xlsx_by_xlsxwriter([["Phone"], ["0712345678"]])
    return builders.with_member_replaced(
        workbook,
        "xl/worksheets/sheet1.xml",
        (builders.BILLION_LAUGHS + '<worksheet xmlns="x"><sheetData>&lol9;</sheetData>'
         "</worksheet>").encode(),
    )  # fmt: skip


UNMATCHED_QUOTE = b'phone,name,message\n0712345678,Asha,Habari\n"0754321098,Juma,Habari\n'

HOSTILE = {
    "zip bomb": ("contacts.xlsx", zip_bomb, ("bomb", "unpacks to", "damaged")),
    "XML entity bomb": ("contacts.xlsx", xml_entity_bomb, ("entity",)),
    "unmatched quote": ("contacts.csv", lambda: UNMATCHED_QUOTE, ("quote",)),
}


@pytest.mark.parametrize("key", UPLOADS)
@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_hostile_file_is_refused_fast_and_changes_nothing(world, key, hostile):
    name, build, words = HOSTILE[hostile]
    data = build()
    client = client_for(world.alice)
    before = database_state()

    with PeakMemory() as memory:
        started = time.monotonic()
        response = post_file(client, key, name, data)
        elapsed = time.monotonic() - started

    body = assert_error(response, 400)
    assert any(word in body["message"] for word in words), body["message"]
    assert elapsed < 3, f"took {elapsed:.1f}s"  # measured well under 1 s on an idle machine
    assert memory.growth_mb < 50, f"memory grew by {memory.growth_mb:.0f} MB"
    assert changes(before, database_state()) == {}


@pytest.mark.parametrize("key", UPLOADS)
def test_a_file_one_byte_over_the_limit_is_413(world, key, settings):
    client = client_for(world.alice)
    # The largest allowed file gets past the size check (and is refused for what it is).
    at_limit = b"%PDF-1.7\n" + b"0" * (settings.MAX_UPLOAD_BYTES - 9)
    assert post_file(client, key, "a.csv", at_limit).status_code == 400
    before = database_state()

    response = post_file(client, key, "a.csv", at_limit + b"0")

    assert_error(response, 413, "payload_too_large")
    assert changes(before, database_state()) == {}


def xlsx_rows() -> bytes:
    return builders.xlsx_by_xlsxwriter(
        [["phone", "name", "message"], ["0754000222", "Neema", "Habari Neema"]]
    )


CSV_ROWS = b"phone,name,message\n0754000222,Neema,Habari Neema\n"


def numbers_of(tenant) -> set[str]:
    """Every number tenant A's contacts and messages have."""
    phones = set(Contact.objects.filter(tenant=tenant).values_list("phone_e164", flat=True))
    return phones | set(Message.objects.filter(tenant=tenant).values_list("to", flat=True))


@pytest.mark.parametrize("key", UPLOADS)
@pytest.mark.parametrize(
    ("name", "build", "file_format"),
    [("contacts.csv", xlsx_rows, "xlsx"), ("contacts.xlsx", lambda: CSV_ROWS, "csv")],
    ids=["xlsx named .csv", "csv named .xlsx"],
)
def test_a_file_in_disguise_is_read_by_its_content(world, key, name, build, file_format):
    # Never read as the type its name claims: a ZIP's bytes taken for CSV text make junk rows.
    before = numbers_of(world.tenant_a)

    response = post_file(client_for(world.alice), key, name, build())

    assert response.status_code < 300, response.content
    if key == "POST /api/messaging/contacts/imports/":  # a job: read later, typed now
        assert response.json()["file_format"] == file_format
    else:
        assert numbers_of(world.tenant_a) - before == {"+255754000222"}
