"""The audit records of bulk send and bulk upload.

Refusals are recorded by the API's exception handler (the views declare their audit action);
a successful send or upload by its service, inside its transaction.
"""

from __future__ import annotations

import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from mifumo.delivery.models import Campaign
from mifumo.tenancy.models import AuditAction, AuditOutcome, AuditRecord
from tests.helpers import assert_error

SEND = "/api/messaging/sms/bulk-send/"
UPLOAD = "/api/messaging/sms/bulk-upload/"


@pytest.fixture(autouse=True)
def _platform_sender(monkeypatch):
    monkeypatch.setenv("BEEM_SENDER_ID", "MIFUMO")


def only_record(tenant, action: str) -> AuditRecord:
    records = list(AuditRecord.objects.filter(tenant=tenant, action=action))
    assert len(records) == 1, [(r.outcome, r.counts) for r in records]
    return records[0]


def workbook(rows) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_a_bulk_send_writes_one_record_naming_its_campaign(alice_client, alice, tenant_a):
    response = alice_client.post(
        SEND,
        {
            "contacts": [{"phone": "+255700000001"}, {"phone": "0700000002"}, {"phone": "12"}],
            "message": "Habari",
            "sender_id": "MIFUMO",
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    record = only_record(tenant_a, AuditAction.SMS_BULK_SEND)
    assert (record.outcome, record.user) == (AuditOutcome.SUCCEEDED, alice)
    assert record.object_ids == [response.json()["campaign_id"]]
    assert record.counts["total"] == 3
    assert record.counts["accepted"] == 2
    assert record.request_id == response["X-Request-ID"]


def test_a_refused_bulk_send_writes_one_failed_record_and_sends_nothing(alice_client, tenant_a):
    response = alice_client.post(
        SEND, {"contacts": [], "message": "Habari", "sender_id": "MIFUMO"}, format="json"
    )
    assert response.status_code == 400, response.content
    record = only_record(tenant_a, AuditAction.SMS_BULK_SEND)
    assert record.outcome == AuditOutcome.FAILED
    assert not Campaign.objects.filter(tenant=tenant_a).exists()


def test_a_bulk_send_with_no_valid_number_is_one_failed_record(alice_client, tenant_a):
    response = alice_client.post(
        SEND, {"contacts": [{"phone": "12"}], "message": "Habari", "sender_id": "MIFUMO"}
    )
    assert response.status_code == 400, response.content
    assert only_record(tenant_a, AuditAction.SMS_BULK_SEND).outcome == AuditOutcome.FAILED


def test_a_bulk_upload_writes_one_record_with_its_rows(alice_client, tenant_a):
    content = workbook(
        [
            ["phone", "name", "message"],
            ["+255712345601", "Asha", "Habari Asha"],
            ["07123", "Chausiku", "Habari"],
        ]
    )
    response = alice_client.post(
        UPLOAD, {"file": SimpleUploadedFile("wazazi.xlsx", content)}, format="multipart"
    )
    assert response.status_code == 200, response.content
    record = only_record(tenant_a, AuditAction.SMS_BULK_UPLOAD)
    assert record.outcome == AuditOutcome.SUCCEEDED
    assert response.json()["upload_id"] in record.object_ids
    assert (record.counts["total"], record.counts["accepted"]) == (2, 1)


def test_an_upload_of_a_file_that_is_not_a_spreadsheet_is_one_failed_record(alice_client, tenant_a):
    response = alice_client.post(
        UPLOAD,
        {"file": SimpleUploadedFile("notes.xlsx", b"this is not a workbook")},
        format="multipart",
    )
    assert_error(response, 400)
    assert only_record(tenant_a, AuditAction.SMS_BULK_UPLOAD).outcome == AuditOutcome.FAILED
    assert not Campaign.objects.filter(tenant=tenant_a).exists()
