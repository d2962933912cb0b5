"""Import jobs at /api/messaging/contacts/imports/: upload, preview, start, progress, errors."""

from __future__ import annotations

import csv
import io
import uuid

import pytest

from mifumo.contacts.imports import files, services
from mifumo.contacts.imports.models import ImportJob, ImportRowError, ImportStatus
from mifumo.contacts.imports.sniff import FileRejected
from mifumo.contacts.models import Contact
from tests.contacts.imports.builders import xlsx_by_xlsxwriter
from tests.contacts.imports.conftest import phones_of, run_jobs, upload
from tests.helpers import assert_error

JOBS = "/api/messaging/contacts/imports/"

SCHOOL_CSV = (
    b"Jina,Namba,Darasa\n"  # "Namba" (number) is not a phone column the mapping knows
    b"Asha,0712345678,Form 2B\n"
    b"Juma,0754321098,Form 2B\n"
    b"Bad,12,Form 1A\n"
)


def stored_file(job_id) -> bytes:
    """What a task would read of the job's file (b"": nothing is kept)."""
    try:
        with files.opened(job_id) as stream:
            return stream.read()
    except FileRejected:
        return b""


def create_job(client, content: bytes, name: str = "contacts.csv", **fields):
    return client.post(JOBS, {"file": upload(name, content), **fields}, format="multipart")


def test_an_uploaded_file_is_imported_by_the_job(alice_client, tenant_a):
    workbook = xlsx_by_xlsxwriter(
        [["Name", "Phone", "Email"], ["Asha", 712345678, "asha@example.org"], ["Bad", "x", ""]]
    )
    response = create_job(alice_client, workbook, "wazazi.xlsx")
    assert response.status_code == 201, response.content
    job = response.json()
    assert job["status"] == "pending" and not job["awaiting_start"]
    assert (job["file_name"], job["file_format"], job["total_rows"]) == ("wazazi.xlsx", "xlsx", 2)
    assert job["mapping"] == [
        {"column": "Name", "field": "name"},
        {"column": "Phone", "field": "phone"},
        {"column": "Email", "field": "email"},
    ]
    assert run_jobs() == 1
    job = alice_client.get(f"{JOBS}{job['id']}/").json()
    assert job["status"] == "completed"
    assert (job["rows_processed"], job["total_rows"]) == (2, 2)
    assert (job["imported"], job["updated"], job["skipped"], job["failed"]) == (1, 0, 0, 1)
    assert job["first_errors"] == [
        {
            "row": 3,
            "column": "Phone",
            "value": "x",
            "reason": "Invalid phone number format: 'x' contains letters",
        }
    ]
    assert job["started_at"] and job["finished_at"]
    assert phones_of(tenant_a) == {"+255712345678"}
    # The file itself is dropped once the job is done.
    assert stored_file(job["id"]) == b""
    assert bytes(ImportJob.objects.get(pk=job["id"]).file_data) == b""


def test_errors_csv_lists_every_rejected_row(alice_client):
    rows = "name,phone\n" + "".join(f"Bad {i},12{i}\n" for i in range(30)) + "Ok,0712345678\n"
    rows += "\"=cmd|' /C calc'!A0\",not-a-number\n"
    job = create_job(alice_client, rows.encode()).json()
    run_jobs()
    response = alice_client.get(f"{JOBS}{job['id']}/errors.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == ["row", "column", "value", "reason"]
    assert len(table) == 1 + 31
    assert table[1] == ["2", "phone", "120", "Invalid phone number format: '120' is too short"]
    assert [int(line[0]) for line in table[1:]] == [*range(2, 32), 33]
    # The detail shows the first 20 only.
    assert len(alice_client.get(f"{JOBS}{job['id']}/").json()["first_errors"]) == 20
    assert alice_client.get(f"{JOBS}{job['id']}/").json()["failed"] == 31


def test_errors_csv_cells_cannot_become_formulas(alice_client):
    job = create_job(alice_client, b"phone\n=1+2\n@SUM(A1)\n").json()
    run_jobs()
    text = b"".join(alice_client.get(f"{JOBS}{job['id']}/errors.csv").streaming_content).decode(
        "utf-8-sig"
    )
    values = [line[2] for line in csv.reader(io.StringIO(text))][1:]
    assert values == ["'=1+2", "'@SUM(A1)"]


def test_the_preview_shows_the_first_rows_and_the_detected_mapping(alice_client, tenant_a):
    job = create_job(alice_client, SCHOOL_CSV, start="false").json()
    assert job["awaiting_start"] is True
    preview = alice_client.get(f"{JOBS}{job['id']}/preview/").json()
    assert preview["columns"] == ["Jina", "Namba", "Darasa"]
    assert preview["mapping"] == [
        {"column": "Jina", "field": "name"},
        {"column": "Namba", "field": "attribute"},
        {"column": "Darasa", "field": "class"},
    ]
    assert preview["has_phone_column"] is False
    assert preview["rows"][0] == {"row": 2, "cells": ["Asha", "0712345678", "Form 2B"]}
    assert (len(preview["rows"]), preview["total_rows"], preview["header_row"]) == (3, 3, 1)
    assert "guardian_phone" in preview["fields"]
    # Nothing runs until the client starts it.
    assert run_jobs() == 0
    assert not Contact.objects.filter(tenant=tenant_a).exists()


def test_starting_with_a_corrected_mapping_imports_with_it(alice_client, tenant_a):
    job = create_job(alice_client, SCHOOL_CSV, start="false").json()
    response = alice_client.post(
        f"{JOBS}{job['id']}/start/", {"mapping": {"Namba": "phone"}}, format="json"
    )
    assert response.status_code == 202, response.content
    assert response.json()["mapping"][1] == {"column": "Namba", "field": "phone"}
    run_jobs()
    job = alice_client.get(f"{JOBS}{job['id']}/").json()
    assert (job["status"], job["imported"], job["failed"]) == ("completed", 2, 1)
    asha = Contact.objects.get(tenant=tenant_a, phone_e164="+255712345678")
    assert [g.name for g in asha.groups.all()] == ["Form 2B"]


def test_a_job_cannot_start_without_a_phone_column(alice_client):
    job = create_job(alice_client, SCHOOL_CSV, start="false").json()
    response = alice_client.post(f"{JOBS}{job['id']}/start/", {}, format="json")
    assert_error(response, 400, "no_phone_column")
    response = alice_client.post(
        f"{JOBS}{job['id']}/start/", {"mapping": {"Simu": "phone"}}, format="json"
    )
    assert "No such columns: ['Simu']" in assert_error(response, 400, "invalid_mapping")["message"]
    response = alice_client.post(
        f"{JOBS}{job['id']}/start/", {"mapping": {"Namba": "mobile"}}, format="json"
    )
    assert_error(response, 400, "validation_error")


def test_a_job_starts_once(alice_client):
    job = create_job(alice_client, SCHOOL_CSV, start="false", mapping='{"Namba": "phone"}').json()
    assert alice_client.post(f"{JOBS}{job['id']}/start/", {}).status_code == 202
    assert_error(alice_client.post(f"{JOBS}{job['id']}/start/", {}), 409, "import_started")
    running = create_job(alice_client, SCHOOL_CSV, mapping='{"Namba": "phone"}').json()
    assert_error(alice_client.post(f"{JOBS}{running['id']}/start/", {}), 409, "import_started")


def test_the_mapping_can_be_given_with_the_upload(alice_client, tenant_a):
    job = create_job(alice_client, SCHOOL_CSV, mapping='{"Namba": "phone"}')
    assert job.status_code == 201, job.content
    run_jobs()
    assert phones_of(tenant_a) == {"+255712345678", "+255754321098"}


def test_upload_options_choose_the_duplicate_policy(alice_client, tenant_a, contact_in):
    contact_in(tenant_a, "+255712345678", name="Old")
    create_job(alice_client, b"name,phone\nNew,0712345678\n", update_existing="true")
    run_jobs()
    assert Contact.objects.get(tenant=tenant_a).name == "New"
    create_job(
        alice_client,
        b"name,phone\nNewer,0712345678\n",
        skip_duplicates="false",
        update_existing="false",
    )
    run_jobs()
    job = ImportJob.objects.order_by("-created_at").first()
    assert (job.failed, job.updated, job.skipped) == (1, 0, 0)
    assert Contact.objects.get(tenant=tenant_a).name == "New"


def test_a_file_level_error_creates_no_job(alice_client):
    response = create_job(alice_client, b'name,phone\n"Asha,0712345678\nJuma,0754\n')
    assert_error(response, 400, "invalid_file")
    assert not ImportJob.objects.exists()


def test_a_big_file_is_imported_over_several_tasks_and_chunks(
    alice_client, tenant_a, settings, monkeypatch
):
    settings.CONTACTS_IMPORT_CHUNK_ROWS = 50
    settings.CONTACTS_IMPORT_TASK_SECONDS = 0  # each task does one chunk, then hands over
    rows = "phone,name\n" + "".join(f"+2557123{i:05d},P{i}\n" for i in range(230))
    rows += "\n\n"  # trailing blank lines: not rows
    job = create_job(alice_client, rows.encode()).json()
    assert job["total_rows"] == 230
    queued = []
    monkeypatch.setattr(services, "_queue_on_commit", queued.append)
    assert run_jobs() == 5  # 50 + 50 + 50 + 50 + 30
    assert len(queued) == 4  # every task but the last queued its successor
    job = alice_client.get(f"{JOBS}{job['id']}/").json()
    assert (job["status"], job["rows_processed"], job["imported"]) == ("completed", 230, 230)
    assert Contact.objects.filter(tenant=tenant_a).count() == 230


def test_a_task_delivered_twice_does_nothing_the_second_time(alice_client, tenant_a):
    job = create_job(alice_client, b"phone\n0712345678\n0754321098\n").json()
    ImportJob.objects.filter(pk=job["id"]).update(
        status=ImportStatus.RUNNING, lease_until=ImportJob.objects.get(pk=job["id"]).created_at
    )
    from django.utils.timezone import now

    # Another worker holds the lease: this copy of the task leaves the job alone.
    ImportJob.objects.filter(pk=job["id"]).update(lease_until=now().replace(year=now().year + 1))
    assert services.import_job_run(job_id=job["id"]) is False
    assert not Contact.objects.filter(tenant=tenant_a).exists()
    # Its lease expired (the worker died): the next copy carries on.
    ImportJob.objects.filter(pk=job["id"]).update(lease_until=now())
    services.import_job_run(job_id=job["id"])
    assert ImportJob.objects.get(pk=job["id"]).status == ImportStatus.COMPLETED
    assert services.import_job_run(job_id=job["id"]) is False


def test_a_chunk_whose_place_was_taken_meanwhile_is_rolled_back(alice_client, tenant_a, settings):
    settings.CONTACTS_IMPORT_CHUNK_ROWS = 1
    job = create_job(alice_client, b"phone\n0712345678\n0754321098\n").json()
    original = services.Importer.write

    def write_then_lose_the_race(importer, chunk):
        result = original(importer, chunk)
        ImportJob.objects.filter(pk=job["id"]).update(next_row=99)  # another task moved on
        return result

    services.Importer.write = write_then_lose_the_race
    try:
        assert services.import_job_run(job_id=job["id"]) is False
    finally:
        services.Importer.write = original
    assert not Contact.objects.filter(tenant=tenant_a).exists()
    assert ImportJob.objects.get(pk=job["id"]).imported == 0


def test_the_sweeper_queues_jobs_whose_task_was_lost(alice_client, monkeypatch):
    from datetime import timedelta

    from django.utils.timezone import now

    lost = create_job(alice_client, b"phone\n0712345678\n").json()
    fresh = create_job(alice_client, b"phone\n0754321098\n").json()
    waiting = create_job(alice_client, b"phone\n0767890123\n", start="false").json()
    working = create_job(alice_client, b"phone\n0689222333\n").json()
    long_ago = now() - timedelta(minutes=5)
    ImportJob.objects.filter(pk__in=[lost["id"], working["id"]]).update(queued_at=long_ago)
    ImportJob.objects.filter(pk=working["id"]).update(
        status=ImportStatus.RUNNING, lease_until=now()
    )
    queued = []
    monkeypatch.setattr(services, "_queue_on_commit", queued.append)
    assert [str(pk) for pk in services.import_jobs_resume_stalled()] == [lost["id"]]
    assert [str(pk) for pk in queued] == [lost["id"]]
    assert fresh and waiting


def test_a_job_fails_with_the_reason_when_its_file_cannot_be_read(alice_client):
    job = create_job(alice_client, xlsx_by_xlsxwriter([["Phone"], ["0712345678"]]), "a.xlsx")
    job_id = job.json()["id"]
    files.keep(job_id, io.BytesIO(b"PK\x03\x04 not a zip any more"))
    run_jobs()
    job = alice_client.get(f"{JOBS}{job_id}/").json()
    assert job["status"] == "failed"
    assert "damaged" in job["error"]


def test_the_list_shows_the_tenants_jobs_newest_first(alice_client, bob_client, charlie_client):
    first = create_job(alice_client, b"phone\n0712345678\n").json()
    second = create_job(bob_client, b"phone\n0754321098\n").json()
    create_job(charlie_client, b"phone\n0712345678\n")
    listed = alice_client.get(JOBS).json()
    assert [job["id"] for job in listed["results"]] == [second["id"], first["id"]]
    assert listed["results"][0]["first_errors"] == []


def test_an_outsider_cannot_see_or_touch_a_job(alice_client, charlie_client):
    job = create_job(alice_client, SCHOOL_CSV, start="false").json()
    for path in ("", "preview/", "errors.csv"):
        assert_error(charlie_client.get(f"{JOBS}{job['id']}/{path}"), 404, "not_found")
    assert_error(charlie_client.post(f"{JOBS}{job['id']}/start/", {}), 404, "not_found")
    assert ImportJob.objects.get(pk=job["id"]).queued_at is None


def test_creating_jobs_is_throttled_but_polling_is_not(alice_client):
    statuses = [create_job(alice_client, b"phone\n0712345678\n").status_code for _ in range(11)]
    assert statuses == [201] * 10 + [429]
    job_id = ImportJob.objects.first().pk
    assert {alice_client.get(f"{JOBS}{job_id}/").status_code for _ in range(15)} == {200}


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_jobs_are_not_edited_through_the_api(alice_client, method):
    job = create_job(alice_client, b"phone\n0712345678\n").json()
    response = getattr(alice_client, method)(f"{JOBS}{job['id']}/", {})
    assert_error(response, 405)


def test_jobs_need_a_signed_in_user(anon):
    assert_error(anon.get(JOBS), 401)


def test_the_stored_row_errors_belong_to_the_job(alice_client):
    job = create_job(alice_client, b"phone\nnope\n").json()
    run_jobs()
    assert ImportJob.objects.get().pk == uuid.UUID(job["id"])
    assert list(ImportRowError.objects.values_list("job_id", "row")) == [
        (ImportJob.objects.get().pk, 2)
    ]
