"""File-level problems: the type by content, bombs, broken CSV. Nothing of such a file is
imported, and the message says what is wrong."""

from __future__ import annotations

import io
import threading
import time
import zipfile

import psutil
import pytest

from mifumo.contacts.imports.pipeline import inspect_file
from mifumo.contacts.imports.sniff import FileRejected
from mifumo.contacts.models import Contact
from tests.contacts.imports import builders
from tests.contacts.imports.conftest import phones_of, upload
from tests.helpers import assert_error

JOBS = "/api/messaging/contacts/imports/"
BULK = "/api/messaging/contacts/bulk-import/"


class PeakMemory:
    """The process's resident memory, sampled every few milliseconds while in the block."""

    def __enter__(self):
        self.process = psutil.Process()
        self.start = self.peak = self.process.memory_info().rss
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample)
        self.thread.start()
        return self

    def _sample(self):
        while not self.done.wait(0.005):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 2**20


def refused_quickly(client, data: bytes, name: str, error_code: str) -> dict:
    with PeakMemory() as memory:
        started = time.monotonic()
        response = client.post(JOBS, {"file": upload(name, data)}, format="multipart")
        elapsed = time.monotonic() - started
    body = assert_error(response, 400, error_code)
    assert elapsed < 2, f"took {elapsed:.1f}s"
    assert memory.growth_mb < 50, f"memory grew by {memory.growth_mb:.0f} MB"
    return body


def test_a_zip_bomb_is_refused_from_its_declared_size(alice_client, tenant_a):
    bomb = builders.zip_bomb(unpacked_bytes=2 * 1024**3)  # 2 GB of zeros in ~2 MB
    assert len(bomb) < 3 * 1024 * 1024
    body = refused_quickly(alice_client, bomb, "contacts.xlsx", "unsafe_file")
    assert "unpacks to 2,147," in body["message"]
    assert not Contact.objects.exists()


def test_a_zip_bomb_that_lies_about_its_size_is_refused(alice_client):
    bomb = builders.zip_bomb(unpacked_bytes=2 * 1024**3, declared_bytes=10_000)
    # zipfile stops at the declared size, where the checksum does not match.
    body = refused_quickly(alice_client, bomb, "contacts.xlsx", "invalid_file")
    assert "damaged (xl/worksheets/sheet1.xml" in body["message"]


def test_a_zip_bomb_under_the_total_budget_is_refused_for_its_ratio(alice_client, settings):
    bomb = builders.zip_bomb(unpacked_bytes=64 * 1024**2)  # 64 MB from ~64 KB: ratio 1,000
    body = refused_quickly(alice_client, bomb, "contacts.xlsx", "unsafe_file")
    assert "ZIP bomb" in body["message"]


@pytest.mark.parametrize("member", ["xl/workbook.xml", "xl/worksheets/sheet1.xml"])
def test_an_xlsx_with_an_xml_entity_bomb_is_refused(alice_client, member):
    workbook = builders.xlsx_by_xlsxwriter([["Phone"], ["0712345678"]])
    bomb = builders.with_member_replaced(
        workbook,
        member,
        (builders.BILLION_LAUGHS + '<worksheet xmlns="x"><sheetData>&lol9;</sheetData>'
         "</worksheet>").encode(),
    )  # fmt: skip
    body = refused_quickly(alice_client, bomb, "contacts.xlsx", "unsafe_file")
    assert member in body["message"] and "entity bomb" in body["message"]


def test_an_ods_with_an_xml_entity_bomb_is_refused(alice_client):
    ods = (builders.FIXTURES / "ecole.ods").read_bytes()
    bomb = builders.with_member_replaced(
        ods, "content.xml", (builders.BILLION_LAUGHS + "<office:document-content/>").encode()
    )
    body = refused_quickly(alice_client, bomb, "ecole.ods", "unsafe_file")
    assert "content.xml" in body["message"]


def test_an_xlsx_named_csv_is_read_as_xlsx(alice_client, tenant_a):
    workbook = builders.xlsx_by_xlsxwriter([["Simu"], [712345678]])
    response = alice_client.post(
        BULK,
        {"import_type": "csv", "file": upload("contacts.csv", workbook, "text/csv")},
        format="multipart",
    )
    assert response.json()["imported"] == 1
    assert phones_of(tenant_a) == {"+255712345678"}


def test_a_csv_named_xlsx_is_read_as_csv(alice_client, tenant_a):
    response = alice_client.post(
        BULK,
        {"import_type": "excel", "file": upload("contacts.xlsx", b"Simu\n0712345678\n")},
        format="multipart",
    )
    assert response.json()["imported"] == 1
    job = alice_client.post(
        JOBS,
        {"file": upload("contacts.xlsx", b"Simu\n0712345678\n"), "start": "false"},
        format="multipart",
    ).json()
    assert job["file_format"] == "csv"


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "a PDF document"),
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "a PNG image"),
        (b"\n\n \n", "no contacts"),
    ],
)
def test_files_that_are_not_contacts_are_refused_by_their_content(alice_client, data, what):
    response = alice_client.post(JOBS, {"file": upload("contacts.csv", data)}, format="multipart")
    assert what in assert_error(response, 400)["message"]


def test_an_empty_file_is_refused(alice_client):
    response = alice_client.post(JOBS, {"file": upload("contacts.csv", b"")}, format="multipart")
    assert "empty" in assert_error(response, 400, "validation_error")["message"]


def test_a_word_document_is_refused(alice_client):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    response = alice_client.post(
        JOBS, {"file": upload("contacts.xlsx", buffer.getvalue())}, format="multipart"
    )
    assert "Word document" in assert_error(response, 400, "invalid_file")["message"]


def test_a_damaged_workbook_is_refused(alice_client):
    workbook = builders.xlsx_by_xlsxwriter([["Simu"], ["0712345678"]])
    half = workbook[: len(workbook) // 2]
    response = alice_client.post(JOBS, {"file": upload("a.xlsx", half)}, format="multipart")
    assert "damaged" in assert_error(response, 400, "invalid_file")["message"]


def test_a_csv_with_an_unmatched_quote_is_refused_whole(alice_client, tenant_a):
    csv = 'name,phone\nAsha,0712345678\n"Juma,0754321098\nNeema,0767890123\n'
    response = alice_client.post(BULK, {"import_type": "csv", "csv_data": csv})
    body = assert_error(response, 400, "invalid_file")
    assert body["message"].startswith('Row 3: a quote (") opens a cell that is never closed')
    assert not Contact.objects.filter(tenant=tenant_a).exists()


def test_quotes_inside_a_cell_and_cells_over_several_lines_are_fine(tenant_a):
    from mifumo.contacts.imports.services import contacts_bulk_import

    csv = 'name,phone,address\nJuma "JJ" Mrisho,0712345678,"Mtaa 1\nDar"\n'
    result = contacts_bulk_import(tenant=tenant_a, data=csv.encode())
    assert (result.imported, result.errors) == (1, [])
    assert Contact.objects.get(tenant=tenant_a).attributes == {"address": "Mtaa 1\nDar"}


def test_a_huge_cell_stops_at_the_csv_field_limit():
    data = b"name,phone\n" + b"A" * 200_000 + b",0712345678\n"
    with pytest.raises(FileRejected, match="Row 2: a cell is longer than 131,072 characters"):
        inspect_file(data, region="TZ")


def test_binary_junk_is_not_read_as_text():
    with pytest.raises(FileRejected, match="NUL bytes"):
        inspect_file(b"phone,name\n0712\x00345678,\x00\x01\x02\xff\n" * 3, region="TZ")
    with pytest.raises(FileRejected, match="not a text"):
        inspect_file(bytes(range(256)) * 4, region="TZ")


def test_a_row_with_thousands_of_columns_is_refused():
    with pytest.raises(FileRejected, match="Row 1 has 10,001 columns"):
        inspect_file(b"phone" + b"," * 10_000 + b"\n0712345678\n", region="TZ")


def test_a_file_over_10_mb_is_413_before_anything_reads_it(alice_client):
    big = b"phone\n" + b"0712345678\n" * (10 * 1024 * 1024 // 11 + 10)
    response = alice_client.post(JOBS, {"file": upload("big.csv", big)}, format="multipart")
    assert_error(response, 413, "payload_too_large")
    huge = big * 2  # the Content-Length alone refuses this one
    response = alice_client.post(JOBS, {"file": upload("huge.csv", huge)}, format="multipart")
    assert_error(response, 413, "payload_too_large")
