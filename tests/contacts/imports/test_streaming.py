"""Import jobs read their file as a stream, in bounded pieces, and keep it out of the job's row
where the database would copy it at every chunk (SQLite)."""

from __future__ import annotations

import gc
import io
import os
import time
import uuid

import pytest
from django.db import connection

from mifumo.contacts.imports import files, services
from mifumo.contacts.imports import mapping as m
from mifumo.contacts.imports.models import ImportJob, ImportRowError
from mifumo.contacts.imports.normalise import PhoneReader
from mifumo.contacts.imports.pipeline import Importer, data_rows
from mifumo.contacts.imports.sniff import FileRejected
from mifumo.contacts.imports.upsert import Policy, ordered_ids
from mifumo.contacts.models import Contact
from mifumo.contacts.phones import InvalidPhone
from tests.contacts.imports.conftest import run_jobs, upload

JOBS = "/api/messaging/contacts/imports/"


def stored(job_id) -> bytes:
    with files.opened(job_id) as stream:
        return stream.read()


class ReadLog(io.BytesIO):
    """A file that notes how much each read asked for."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.sizes: list[int] = []

    def read(self, size=-1):
        self.sizes.append(size)
        return super().read(size)

    def read1(self, size=-1):
        self.sizes.append(size)
        return super().read1(size)

    def readinto(self, buffer):
        self.sizes.append(len(buffer))
        return super().readinto(buffer)


def test_the_csv_reader_reads_the_file_in_bounded_pieces():
    data = b"name,phone\n" + b"".join(b"Mzazi %d,+2557124%05d\n" % (i, i) for i in range(40_000))
    stream = ReadLog(data)
    rows = data_rows(stream, header_row=1)
    assert next(rows) == (2, ["Mzazi 0", "+255712400000"])
    assert len(data) > 1_000_000
    # Never the whole file at once: a full read (-1) or one as large as the file.
    assert stream.sizes and all(0 < size <= 256 * 1024 for size in stream.sizes), stream.sizes
    rows.close()


def test_rows_keep_their_numbers_and_duplicates_are_found_across_chunks_and_tasks(
    alice_client, tenant_a, settings
):
    settings.CONTACTS_IMPORT_CHUNK_ROWS = 4
    settings.CONTACTS_IMPORT_TASK_SECONDS = 0  # one chunk per task: every boundary is crossed
    lines = ["Jina,Simu,Tags"]
    lines += [f"Mzazi {i},07124000{i:02d},wazazi" for i in range(10)]  # rows 2-11
    lines += [
        "Bad,12,",  # row 12: invalid, in the third chunk
        "Again,+255712400001,vip",  # row 13: the same phone as row 3, two chunks later
        "Again 2,0712 400 009,",  # row 14: the same phone as row 11
    ]
    response = alice_client.post(
        JOBS,
        {"file": upload("wazazi.csv", "\n".join(lines).encode()), "skip_duplicates": False},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    job_id = response.json()["id"]
    assert run_jobs() == 4  # 13 rows in chunks of 4
    job = ImportJob.objects.get(pk=job_id)
    assert (job.status, job.rows_processed, job.imported, job.failed) == ("completed", 13, 10, 3)
    errors = list(
        ImportRowError.objects.filter(job=job).order_by("row").values_list("row", "value")
    )
    assert errors == [(12, "12"), (13, "+255712400001"), (14, "+255712400009")]
    assert Contact.objects.filter(tenant=tenant_a).count() == 10
    assert Contact.objects.get(tenant=tenant_a, phone_e164="+255712400001").name == "Mzazi 1"


def test_a_later_row_in_a_later_chunk_updates_the_contact_an_earlier_one_made(tenant_a, settings):
    settings.CONTACTS_IMPORT_CHUNK_ROWS = 2
    data = (
        b"name,phone,email,tags\n"
        b"Asha,0712345678,,wazazi\n"
        b"Juma,0754321098,,\n"
        b"Asha M,+255712345678,asha@example.org,vip\n"  # row 4, in the second chunk
    )
    job = services.import_job_create(
        tenant=tenant_a, user=None, file_name="a.csv", data=data, update_existing=True
    )
    assert services.import_job_run(job_id=job.pk) is False
    job.refresh_from_db()
    assert (job.imported, job.updated, job.failed) == (2, 1, 0)
    asha = Contact.objects.get(tenant=tenant_a, phone_e164="+255712345678")
    assert (asha.name, asha.email) == ("Asha M", "asha@example.org")
    assert sorted(asha.tags.values_list("name", flat=True)) == ["vip", "wazazi"]


def test_an_upload_spooled_to_disk_is_read_from_there(alice_client, tenant_a, settings):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024  # Django writes bigger uploads to a file
    content = "phone,name\n" + "".join(f"+2557125{i:05d},Mwalimu {i}\n" for i in range(300))
    response = alice_client.post(
        JOBS, {"file": upload("walimu.csv", content.encode())}, format="multipart"
    )
    assert response.status_code == 201, response.content
    job = response.json()
    assert (job["total_rows"], job["file_size"]) == (300, len(content))
    assert stored(job["id"]) == content.encode()
    run_jobs()
    assert Contact.objects.filter(tenant=tenant_a).count() == 300


def test_on_sqlite_the_file_is_kept_beside_the_database_not_in_the_jobs_row(tenant_a):
    data = b"phone\n0712345678\n"
    job = services.import_job_create(
        tenant=tenant_a, user=None, file_name="a.csv", data=data, start=False
    )
    assert stored(job.pk) == data
    # SQLite writes a whole row again at each chunk's progress update; PostgreSQL keeps a
    # large value aside (TOAST) and leaves it be.
    in_row = bytes(ImportJob.objects.values_list("file_data", flat=True).get(pk=job.pk))
    assert in_row == (b"" if connection.vendor == "sqlite" else data)


def test_a_file_is_kept_and_read_back_whole_in_many_slices(tenant_a, monkeypatch):
    # PostgreSQL writes it in 1,500-byte slices and reads it in 1,000-byte ones.
    monkeypatch.setattr(files, "KEEP_SLICE_BYTES", 1500)
    monkeypatch.setattr(files, "SLICE_BYTES", 1000)
    data = b"phone,name\n" + b"".join(b"+2557126%05d,Mwanafunzi %d\n" % (i, i) for i in range(500))
    job = services.import_job_create(tenant=tenant_a, user=None, file_name="a.csv", data=data)
    assert stored(job.pk) == data
    services.import_job_run(job_id=job.pk)
    assert Contact.objects.filter(tenant=tenant_a).count() == 500


def test_a_finished_jobs_file_is_removed(tenant_a):
    job = services.import_job_create(
        tenant=tenant_a, user=None, file_name="a.csv", data=b"phone\n0712345678\n"
    )
    assert stored(job.pk) == b"phone\n0712345678\n"
    services.import_job_run(job_id=job.pk)
    try:
        left = stored(job.pk)
    except FileRejected:  # SQLite: the file is gone
        left = b""
    assert left == b""
    assert not files._path(job.pk).exists()


def test_the_sweeper_removes_day_old_files_of_jobs_that_are_gone(tenant_a):
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL keeps the file in the job's row, which goes with the job")
    kept = services.import_job_create(
        tenant=tenant_a, user=None, file_name="a.csv", data=b"phone\n0712345678\n", start=False
    )
    orphan = files._path(uuid.uuid4())
    orphan.write_bytes(b"phone\n0754321098\n")
    fresh_orphan = files._path(uuid.uuid4())
    fresh_orphan.write_bytes(b"phone\n0754321098\n")
    day_old = time.time() - files.ORPHAN_AFTER_SECONDS - 60
    for path in (orphan, files._path(kept.pk)):
        os.utime(path, (day_old, day_old))
    services.import_jobs_resume_stalled()
    assert not orphan.exists()
    assert fresh_orphan.exists()  # perhaps a job being created this very moment
    assert stored(kept.pk) == b"phone\n0712345678\n"  # waiting for /start/: still needed
    fresh_orphan.unlink()


def test_new_ids_are_uuid7s_in_order():
    ids = ordered_ids(10_000)
    assert ids == sorted(ids) and len(set(ids)) == 10_000
    parsed = [uuid.UUID(value) for value in ids]
    assert {(u.version, u.variant) for u in parsed} == {(7, uuid.RFC_4122)}


def test_the_phone_reader_answers_a_repeated_number_the_same_and_refuses_a_bad_one_each_time():
    reader = PhoneReader("TZ")
    assert reader("0712 345 678") == reader("0712 345 678") == "+255712345678"
    for _ in range(2):
        with pytest.raises(InvalidPhone, match=r"too short|not a valid"):
            reader("07123")


def test_a_resumed_job_skips_the_rows_done_and_keeps_counting_rows_not_lines(tenant_a, settings):
    settings.CONTACTS_IMPORT_CHUNK_ROWS = 2
    settings.CONTACTS_IMPORT_TASK_SECONDS = 0
    data = (
        b'name,phone,notes\n"Asha",0712345678,"line one\nline two"\n'  # row 2 over two lines
        b"Juma,0754321098,\nBad,12,\n"  # rows 3 and 4 (in the second chunk: a new task)
        b'Neema,0765432109,"a\n\nb"\nBad again,x,\n'  # rows 5 and 6
    )
    job = services.import_job_create(tenant=tenant_a, user=None, file_name="a.csv", data=data)
    assert run_jobs() == 3
    job.refresh_from_db()
    assert (job.rows_processed, job.imported, job.failed) == (5, 3, 2)
    assert list(job.row_errors.order_by("row").values_list("row", flat=True)) == [4, 6]
    neema = Contact.objects.get(tenant=tenant_a, phone_e164="+255765432109")
    assert neema.attributes == {"notes": "a\n\nb"}


@pytest.mark.django_db
def test_rows_that_fail_leave_nothing_of_their_chunk_to_the_garbage_collector(tenant_a):
    # An invalid e-mail (Django's ValidationError refers to itself) and a phone whose country
    # code phonenumbers does not know (its parse() keeps the exception in a local): each made a
    # cycle holding the frames above it, so every chunk with one bad row waited, whole, for a
    # full collection (seven of them in a 50,000-row import, 0.75 s). See memory.py.
    importer = Importer(tenant_a, m.detect_mapping(["name", "phone", "email"]), Policy())
    rows = [
        (2, ["Juma", "0712345678", "juma@example.org"]),
        (3, ["Asha", "0712345679", "asha@@example"]),
        (4, ["Neema", "+999123", "neema@example.org"]),
    ]
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        prepared = importer.prepare(rows)
        assert [e.column for e in prepared.errors] == ["email", "phone"]
        del prepared
        gc.collect()
        left = {type(o).__name__ for o in gc.garbage}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert not left & {"frame", "ContactRow", "traceback"}, left
