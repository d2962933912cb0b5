"""The import wizard in the browser: upload, correct the detected columns, watch the job's
progress, then its counts and the rejected rows.

There is no worker in these tests: the test does the worker's part, calling the import job's
service as the Celery task does, while the page polls for progress."""

from __future__ import annotations

from django.test import Client
from playwright.sync_api import expect

from mifumo.contacts.imports import services
from mifumo.contacts.imports.models import ImportJob, ImportStatus
from mifumo.contacts.models import Contact

# "Namba" (number) is not a header the mapping knows: the user says it holds the phone.
SCHOOL_CSV = (
    "Jina,Namba,Darasa\n"
    "Asha Juma,0712345678,Form 2B\n"
    "Baraka Mushi,0754321098,Form 2B\n"
    "Bad Number,12,Form 1A\n"
    "Chausiku Ally,0765111222,Form 1A\n"
    "Daudi Kimaro,0689000333,Form 1A\n"
)


def upload(page, tmp_path, name: str, content: bytes | str):
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    page.goto("/imports/")
    page.get_by_label("File").set_input_files(str(path))
    page.get_by_role("button", name="Upload and preview").click()


def run_one_task(job: ImportJob) -> None:
    """What one worker task does: as many chunks as its time allows (here: one)."""
    services.import_job_run(job_id=job.pk, budget_seconds=0)


def test_the_import_wizard_with_a_bad_row(sign_in, alice, tenant_a, settings, tmp_path):
    settings.CONTACTS_IMPORT_CHUNK_ROWS = 2  # so that the job takes a few tasks
    page = sign_in(alice)
    upload(page, tmp_path, "wazazi.csv", SCHOOL_CSV)

    expect(page.get_by_role("heading", name="Check the columns")).to_be_visible()
    expect(page.get_by_test_id("preview").locator("tbody tr")).to_have_count(5)
    expect(page.get_by_label("Column “Jina”")).to_have_value("name")
    expect(page.get_by_label("Column “Namba”")).to_have_value("attribute")
    page.get_by_label("Column “Namba”").select_option("phone")
    page.get_by_label("Column “Darasa”").select_option("class")
    page.get_by_role("button", name="Import 5 rows").click()

    job = ImportJob.objects.get(tenant=tenant_a)
    expect(page.get_by_test_id("progress-text")).to_contain_text("0 of 5 rows")
    run_one_task(job)
    # The page asks for the progress every 2 seconds: the bar moves without a reload.
    expect(page.get_by_test_id("progress-text")).to_contain_text("2 of 5 rows (40%)")
    expect(page.get_by_test_id("import-progress")).to_have_attribute("value", "2")
    while ImportJob.objects.get(pk=job.pk).status != ImportStatus.COMPLETED:
        run_one_task(job)

    expect(page.get_by_role("heading", name="Import finished")).to_be_visible()
    expect(page.get_by_test_id("count-created")).to_have_text("4")
    expect(page.get_by_test_id("count-updated")).to_have_text("0")
    expect(page.get_by_test_id("count-skipped")).to_have_text("0")
    expect(page.get_by_test_id("count-failed")).to_have_text("1")
    rejected = page.get_by_test_id("rejected-rows").locator("tbody tr")
    expect(rejected).to_have_count(1)
    expect(rejected.first).to_contain_text("4")  # the row's number in the file
    expect(rejected.first).to_contain_text("Namba")
    expect(rejected.first).to_contain_text("12")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download the 1 rejected row (CSV)").click()
    text = download.value.path().read_text(encoding="utf-8-sig")
    lines = text.splitlines()
    assert lines[0] == "row,column,value,reason"
    assert lines[1].startswith("4,Namba,12,") and len(lines) == 2

    phones = set(Contact.objects.filter(tenant=tenant_a).values_list("phone_e164", flat=True))
    assert phones == {"+255712345678", "+255754321098", "+255765111222", "+255689000333"}
    asha = Contact.objects.get(phone_e164="+255712345678")
    assert asha.name == "Asha Juma"


def test_it_asks_for_a_phone_column_before_starting(sign_in, alice, tenant_a, tmp_path):
    page = sign_in(alice)
    upload(page, tmp_path, "list.csv", "Jina,Namba\nAsha,0712345678\n")
    page.get_by_label("Column “Jina”").select_option("name")
    page.get_by_role("button", name="Import 1 row").click()
    expect(page.get_by_role("alert")).to_contain_text("No phone number column found")
    # The choices made so far are kept.
    expect(page.get_by_label("Column “Jina”")).to_have_value("name")
    job = ImportJob.objects.get(tenant=tenant_a)
    assert job.queued_at is None
    page.get_by_label("Column “Namba”").select_option("phone")
    page.get_by_label("Update the contact with the row's values").check()
    page.get_by_role("button", name="Import 1 row").click()
    expect(page.get_by_test_id("progress-text")).to_contain_text("0 of 1 rows")
    job.refresh_from_db()
    assert job.queued_at is not None and job.update_existing
    assert job.mapping == [
        {"column": "Jina", "field": "name"},
        {"column": "Namba", "field": "phone"},
    ]


def test_a_file_that_is_no_contact_list_is_refused_at_its_field(sign_in, alice, tmp_path):
    page = sign_in(alice)
    upload(page, tmp_path, "photo.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    expect(page.locator(".field-error")).to_be_visible()
    assert not ImportJob.objects.exists()


def test_a_member_imports_and_an_outsider_finds_nothing(sign_in, bob, charlie, tenant_a, tmp_path):
    page = sign_in(bob)
    upload(page, tmp_path, "wazazi.csv", "Name,Phone\nAsha,0712345678\n")
    page.get_by_role("button", name="Import 1 row").click()
    job = ImportJob.objects.get(tenant=tenant_a)
    services.import_job_run(job_id=job.pk)
    expect(page.get_by_test_id("count-created")).to_have_text("1")

    page.context.clear_cookies()
    page = sign_in(charlie)
    page.goto("/imports/")
    expect(page.get_by_text("wazazi.csv")).to_have_count(0)
    client = Client()
    client.force_login(charlie)
    for url in ["", "progress/", "errors.csv"]:
        response = client.get(f"/imports/{job.pk}/{url}", HTTP_ACCEPT="text/html")
        assert response.status_code == 404, url
    assert client.post(f"/imports/{job.pk}/start/").status_code == 404


def test_the_wizard_fits_a_phone_screen(sign_in, alice, tmp_path):
    page = sign_in(alice)
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto("/imports/")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
    upload(page, tmp_path, "wazazi.csv", SCHOOL_CSV)
    expect(page.get_by_role("heading", name="Check the columns")).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
