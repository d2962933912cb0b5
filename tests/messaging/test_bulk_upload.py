"""POST /api/messaging/sms/bulk-upload/ — the spec's "Bulk SMS with Excel Upload"."""

from __future__ import annotations

import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from mifumo.delivery.models import Campaign, Message
from mifumo.messaging.models import BulkUpload, SenderId, SenderIdStatus, Template
from tests.helpers import assert_error

URL = "/api/messaging/sms/bulk-upload/"
HEADER = ["Phone", "Name", "Message", "Sender ID"]


@pytest.fixture(autouse=True)
def _platform_sender(monkeypatch):
    monkeypatch.setenv("BEEM_SENDER_ID", "MIFUMO")


def xlsx(rows, *, merge: str = "") -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    if merge:
        sheet.merge_cells(merge)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def upload(client, content: bytes, name: str = "wazazi.xlsx", **fields):
    return client.post(
        URL, {"file": SimpleUploadedFile(name, content), **fields}, format="multipart"
    )


def test_it_sends_each_row_and_reports_bad_rows_as_the_spreadsheet_numbers_them(alice_client):
    content = xlsx(
        [
            HEADER,
            ["+255712345601", "Asha", "Habari Asha"],
            ["0712345602", "Baraka", "Habari Baraka"],
            [],
            ["07123", "Chausiku", "Habari"],
            ["", "Daudi", "Habari Daudi"],
            ["255712345606", "Eliya", "Habari Eliya"],
        ]
    )
    response = upload(alice_client, content)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "Bulk SMS upload processed successfully"
    assert (body["total_contacts"], body["processed_contacts"], body["successful_contacts"]) == (
        5,
        3,
        3,
    )
    assert body["errors"][0].startswith("Row 5: Invalid phone number format")
    assert body["errors"][1] == "Row 6: Missing required field: phone number (column A)"
    assert len(body["errors"]) == 2
    assert dict(Message.objects.values_list("to", "body")) == {
        "+255712345601": "Habari Asha",
        "+255712345602": "Habari Baraka",
        "+255712345606": "Habari Eliya",
    }
    upload_row = BulkUpload.objects.get(pk=body["upload_id"])
    assert upload_row.campaigns.count() == 1


def test_rows_without_a_message_use_the_template_with_columns_as_variables(alice_client, tenant_a):
    template = Template.objects.create(
        tenant=tenant_a, name="ada", body="Habari {{name}}, ada ya {{term}} ni {{fee_amount}}"
    )
    content = xlsx(
        [
            [*HEADER, "Term", "Fee Amount"],
            ["+255712345601", "Asha", "", "", "Muhula 1", 150000],
            ["+255712345602", "Baraka", "Ujumbe wake mwenyewe", "", "Muhula 1", 90000],
            ["+255712345603", "Chausiku", "", "", "Muhula 2", None],
        ]
    )
    response = upload(alice_client, content, template_id=str(template.pk))
    body = response.json()
    assert dict(Message.objects.values_list("to", "body")) == {
        "+255712345601": "Habari Asha, ada ya Muhula 1 ni 150000",
        "+255712345602": "Ujumbe wake mwenyewe",
    }
    assert len(body["errors"]) == 1 and body["errors"][0].startswith("Row 4: ")
    assert "{{fee_amount}}" in body["errors"][0]


def test_a_row_without_message_and_no_template_is_reported(alice_client):
    content = xlsx([HEADER, ["+255712345601", "Asha", "Habari"], ["+255712345602", "Baraka"]])
    body = upload(alice_client, content).json()
    assert body["errors"] == ["Row 3: No message and no template"]


def test_column_d_picks_an_approved_sender_id_per_row(alice_client, tenant_a):
    SenderId.objects.create(tenant=tenant_a, value="SHULE", status=SenderIdStatus.APPROVED)
    content = xlsx(
        [
            HEADER,
            ["+255712345601", "Asha", "Habari", "SHULE"],
            ["+255712345602", "Baraka", "Habari", ""],
            ["+255712345603", "Chausiku", "Habari", "NOTOURS"],
        ]
    )
    body = upload(alice_client, content).json()
    assert body["errors"] == ["Row 4: Sender id 'NOTOURS' is not approved"]
    senders = {m.to: m.campaign.sender_id for m in Message.objects.select_related("campaign")}
    assert senders == {"+255712345601": "SHULE", "+255712345602": "MIFUMO"}
    detail = alice_client.get(f"{URL}{body['upload_id']}/").json()
    assert sorted(c["sender_id"] for c in detail["campaigns"]) == ["MIFUMO", "SHULE"]


def test_a_csv_works_too_and_a_file_without_header_starts_at_row_1(alice_client):
    content = b"+255712345601,Asha,Habari\nnot-a-phone,Baraka,Habari\n"
    body = upload(alice_client, content, name="list.csv").json()
    assert body["successful_contacts"] == 1
    assert body["errors"][0].startswith("Row 2: Invalid phone number format")


def test_a_file_with_the_phones_in_another_column_is_refused_saying_where(alice_client):
    content = xlsx([["Name", "Phone"], ["Asha", "+255712345601"], ["Baraka", "0712345602"]])
    body = assert_error(upload(alice_client, content), 400, "wrong_columns")
    assert "column B" in body["message"] and "'Phone'" in body["message"]
    assert Message.objects.count() == 0


def test_formulas_give_their_values_and_merged_header_cells_name_columns_by_letter(
    alice_client, tenant_a
):
    template = Template.objects.create(tenant=tenant_a, name="t", body="{{name}} {{column_f}}")
    content = xlsx(
        [
            [*HEADER, "Extra", ""],
            ["+255712345601", "Asha", "", "", "x", "=1+1"],
        ],
        merge="E1:F1",
    )
    response = upload(alice_client, content, template_id=str(template.pk))
    # openpyxl writes formulas without a cached value: calamine reads them as empty, so
    # the variable is missing and the row says so rather than sending "=1+1".
    body = response.json()
    assert not Message.objects.filter(body__contains="=1+1").exists()
    assert response.status_code == 400, body
    assert body["errors"][0].startswith("Row 2: ") and "{{column_f}}" in body["errors"][0]


def test_more_than_50000_rows_is_refused_before_anything_is_sent(alice_client, settings):
    settings.SMS_UPLOAD_MAX_ROWS = 3
    content = xlsx([HEADER, *[[f"+25571234560{i}", "", "Habari"] for i in range(4)]])
    assert_error(upload(alice_client, content), 400, "too_many_rows")
    assert Message.objects.count() == 0


def test_an_empty_file_and_a_header_only_file_are_refused(alice_client):
    assert_error(upload(alice_client, b""), 400)
    body = assert_error(upload(alice_client, xlsx([HEADER])), 400, "empty_file")
    assert "row 1 is the header" in body["message"]


def test_a_file_that_is_not_a_spreadsheet_is_refused(alice_client):
    assert_error(upload(alice_client, b"BEGIN:VCARD\r\nVERSION:3.0\r\nEND:VCARD\r\n"), 400)
    assert_error(upload(alice_client, b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, name="x.xlsx"), 400)


def test_a_file_over_10_mb_is_refused(alice_client, settings):
    settings.MAX_UPLOAD_BYTES = 1024
    assert_error(upload(alice_client, b"+255712345601,A,B\n" * 100, name="a.csv"), 413)


def test_when_no_row_can_be_sent_it_is_a_400_with_the_row_errors(alice_client):
    response = upload(alice_client, xlsx([HEADER, ["0712", "Asha", "Habari"]]))
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "no_valid_recipients"
    assert body["errors"][0].startswith("Row 2: ")
    assert Campaign.objects.count() == 0


def test_the_upload_report_is_shown_again_with_progress(alice_client, charlie_client):
    body = upload(alice_client, xlsx([HEADER, ["+255712345601", "Asha", "Habari"]])).json()
    detail = alice_client.get(f"{URL}{body['upload_id']}/")
    assert detail.status_code == 200
    data = detail.json()
    assert data["upload_id"] == body["upload_id"] and data["successful_contacts"] == 1
    assert data["campaigns"][0]["total_messages"] == 1
    assert data["campaigns"][0]["counters"] == {"queued": 1}
    assert_error(charlie_client.get(f"{URL}{body['upload_id']}/"), 404, "not_found")


def test_the_same_file_with_the_same_key_is_sent_once(alice_client):
    content = xlsx([HEADER, ["+255712345601", "Asha", "Habari"]])
    first = alice_client.post(
        URL,
        {"file": SimpleUploadedFile("a.xlsx", content)},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY="u1",
    )
    again = alice_client.post(
        URL,
        {"file": SimpleUploadedFile("a.xlsx", content)},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY="u1",
    )
    assert first.json() == again.json()
    assert Message.objects.count() == 1 and BulkUpload.objects.count() == 1


def test_a_member_may_upload_and_an_outsider_cannot_use_the_tenants_template(
    bob_client, charlie_client, tenant_a
):
    content = xlsx([HEADER, ["+255712345601", "Asha", "Habari"]])
    assert upload(bob_client, content).status_code == 200
    template = Template.objects.create(tenant=tenant_a, name="t", body="x")
    assert_error(upload(charlie_client, content, template_id=str(template.pk)), 404)
