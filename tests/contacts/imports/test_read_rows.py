"""A job keeps a workbook's rows as its creation read them; the worker never parses the
workbook again, and imports exactly what it would have imported from the workbook."""

from __future__ import annotations

import datetime
import io

import openpyxl
import python_calamine

from mifumo.contacts.imports import files, read_rows, services
from mifumo.contacts.imports.models import ImportJob
from mifumo.contacts.models import Contact
from tests.contacts.imports.builders import xlsx_by_openpyxl, xlsx_by_xlsxwriter
from tests.contacts.imports.conftest import phones_of, run_jobs


def stored(job_id) -> bytes:
    with files.opened(job_id) as stream:
        return stream.read()


def create(tenant, data: bytes, name: str = "contacts.xlsx") -> ImportJob:
    return services.import_job_create(tenant=tenant, user=None, file_name=name, data=data)


def refuse_workbooks(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the workbook was parsed again")

    monkeypatch.setattr(python_calamine.CalamineWorkbook, "from_filelike", refuse)
    monkeypatch.setattr(
        "mifumo.contacts.imports.read_spreadsheet.CalamineWorkbook.from_filelike", refuse
    )


def test_the_worker_imports_a_workbook_without_parsing_it_again(tenant_a, monkeypatch):
    data = xlsx_by_xlsxwriter([["Name", "Phone"], ["Asha", 712345678], ["Juma", "0754321098"]])
    job = create(tenant_a, data)
    assert stored(job.pk).startswith(read_rows.MAGIC)
    assert job.file_size == len(data)  # the upload's size, not the kept rows'
    refuse_workbooks(monkeypatch)
    run_jobs()
    job.refresh_from_db()
    assert (job.status, job.imported) == ("completed", 2)
    assert phones_of(tenant_a) == {"+255712345678", "+255754321098"}


def test_kept_rows_import_what_the_workbook_itself_imports(tenant_a, tenant_b):
    """Dates, numbers, true/false and blank rows, through a job (kept rows) and through the
    bulk import (the workbook read directly): the same contacts."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    rows = {
        1: ["Name", "Phone", "Birthday", "Admission", "Boarder", "Fee", "Notes"],
        2: ["Asha", 255712345678, datetime.date(2010, 4, 1), 17, True, 2.5, " Café "],
        # Row 3 is blank.
        4: ["Juma", "0754 321 098", datetime.datetime(2011, 5, 2, 7, 30), 0, False, 3.0, ""],
        5: ["Bad", "12"],
    }
    for number, cells in rows.items():
        for column, value in enumerate(cells, start=1):
            sheet.cell(row=number, column=column, value=value)
    buffer = io.BytesIO()
    workbook.save(buffer)
    data = buffer.getvalue()

    tenant_b.default_region = tenant_a.default_region
    tenant_b.save()
    job = create(tenant_a, data)
    run_jobs()
    job.refresh_from_db()
    direct = services.contacts_bulk_import(tenant=tenant_b, data=data)

    assert (job.imported, job.failed) == (direct.imported, len(direct.errors)) == (2, 1)
    assert list(job.row_errors.values_list("row", flat=True)) == [5]
    assert direct.errors[0].startswith("Row 5:")

    def contacts(tenant):
        return {
            c.phone_e164: (c.name, c.attributes)
            for c in Contact.objects.filter(tenant=tenant).order_by("phone_e164")
        }

    assert contacts(tenant_a) == contacts(tenant_b)
    assert contacts(tenant_a)["+255712345678"][1] == {
        "Birthday": "2010-04-01",
        "Admission": 17,
        "Boarder": True,
        "Fee": 2.5,
        "Notes": "Café",
    }


def test_a_job_over_many_tasks_takes_up_the_kept_rows_where_it_stopped(tenant_a, settings):
    # Chunks that do not divide the kept rows' blocks of 1,000: tasks stop and start inside
    # blocks and across their edges (chunks of 3 took 834 tasks, 24 s of CI).
    settings.CONTACTS_IMPORT_CHUNK_ROWS = 30
    settings.CONTACTS_IMPORT_TASK_SECONDS = 0  # one chunk per task
    rows = [["Phone", "Tags"]] + [[f"0712{i:06d}", "wazazi"] for i in range(2_500)]
    rows[1_700] = ["0712000001", "vip"]  # row 1701 repeats row 3's phone, blocks later
    job = create(tenant_a, xlsx_by_openpyxl(rows))
    assert run_jobs(max_tasks=2_000) == 84  # 2,500 rows in chunks of 30
    job.refresh_from_db()
    assert (job.status, job.imported, job.skipped, job.rows_processed) == (
        "completed",
        2_499,
        1,
        2_500,
    )


def test_a_job_that_kept_its_workbook_is_still_read_from_it(tenant_a):
    """Jobs created before rows were kept hold the workbook itself."""
    data = xlsx_by_xlsxwriter([["Name", "Phone"], ["Asha", "0712345678"]])
    job = create(tenant_a, data)
    files.keep(job.pk, io.BytesIO(data))
    run_jobs()
    job.refresh_from_db()
    assert (job.status, job.imported) == ("completed", 1)


def test_a_csv_job_keeps_the_file_as_it_came(tenant_a):
    data = b"phone\n0712345678\n"
    job = create(tenant_a, data, "a.csv")
    assert stored(job.pk) == data


def test_a_later_task_passes_over_the_blocks_done_before_without_decoding_them(monkeypatch):
    kept = io.BytesIO()
    writer = read_rows.RowsWriter(kept)
    for number in range(2, 3_502):  # rows 2-3501: four blocks of up to 1,000
        writer.add(number, [f"07120{number:05d}", datetime.date(2020, 1, 2)])
    writer.close()
    decoded = []
    loads = read_rows.json.loads
    monkeypatch.setattr(read_rows.json, "loads", lambda text: decoded.append(1) or loads(text))
    rows = list(read_rows.open_rows(kept, first_row=3_000).rows)
    assert rows[0] == (3_000, ["0712003000", "2020-01-02"])
    assert len(rows) == 502 and len(decoded) == 2  # the blocks of rows 2002-3501
