"""The audit log: every bulk operation leaves exactly one record, with its counts and outcome,
also when it is refused (then nothing else changes); admins read it, nobody edits it, and no
tenant sees another's."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from mifumo.communications.models import BulkMessage
from mifumo.contacts.imports.models import ImportJob
from mifumo.contacts.models import Contact
from mifumo.delivery import services as delivery
from mifumo.delivery.models import Campaign, CampaignStatus, MessageStatus
from mifumo.messaging.models import CreditEntry
from mifumo.messaging.services.billing import credit_top_up
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.models import ApiKey, AuditAction, AuditOutcome, AuditRecord, Role
from tests.factories import create_contact, create_group, create_user
from tests.helpers import assert_error
from tests.tenancy.helpers import api_key_client, issue_api_key

URL = "/api/messaging/audit-log/"
CONTACTS = "/api/messaging/contacts/"


def only_record(tenant, action: str) -> AuditRecord:
    records = list(AuditRecord.objects.filter(tenant=tenant, action=action))
    assert len(records) == 1, [(r.action, r.outcome, r.counts) for r in records]
    return records[0]


def accept(tenant, count: int = 3) -> Campaign:
    with transaction.atomic():
        return delivery.campaign_accept(
            tenant=tenant,
            recipients=[
                delivery.Recipient(to=f"+2557540{index:05d}", body="Habari")
                for index in range(count)
            ],
        )


# --- contacts' bulk operations ----------------------------------------------------------------


def test_a_bulk_edit_writes_one_record_with_its_counts_actor_and_request_id(
    alice_client, alice, tenant_a
):
    contacts = [create_contact(tenant_a, name=f"C{i}") for i in range(3)]
    ids = [str(c.pk) for c in contacts]
    response = alice_client.post(
        f"{CONTACTS}bulk-edit/",
        {"contact_ids": ids, "updates": {"name": "Renamed"}},
        format="json",
        HTTP_X_REQUEST_ID="req-bulk-edit-0001",
    )
    assert response.status_code == 200, response.content
    assert response["X-Request-ID"] == "req-bulk-edit-0001"
    record = only_record(tenant_a, AuditAction.CONTACTS_BULK_EDIT)
    assert record.outcome == AuditOutcome.SUCCEEDED
    assert record.counts == {"requested": 3, "updated": 3}
    assert sorted(record.object_ids) == sorted(ids)
    assert (record.user, record.api_key, record.actor) == (alice, None, "alice@a.example")
    assert record.request_id == "req-bulk-edit-0001"


def test_a_bulk_edit_refused_for_an_unknown_id_is_recorded_and_changes_nothing(
    alice_client, tenant_a
):
    contact = create_contact(tenant_a, name="Asha")
    missing = uuid.uuid4()
    response = alice_client.post(
        f"{CONTACTS}bulk-edit/",
        {"contact_ids": [str(contact.pk), str(missing)], "updates": {"name": "Renamed"}},
        format="json",
    )
    assert response.status_code == 404
    record = only_record(tenant_a, AuditAction.CONTACTS_BULK_EDIT)
    assert record.outcome == AuditOutcome.FAILED
    assert record.error_code == "contacts_not_found"
    assert record.counts == {"requested": 2, "updated": 0}
    assert str(missing) in record.object_ids
    assert record.request_id == response["X-Request-ID"]
    contact.refresh_from_db()
    assert contact.name == "Asha"


def test_a_bulk_edit_refused_by_validation_writes_one_failed_record(alice_client, tenant_a):
    contact = create_contact(tenant_a, name="Asha")
    response = alice_client.post(
        f"{CONTACTS}bulk-edit/",
        {"contact_ids": [str(uuid.uuid4()) for _ in range(101)], "updates": {"name": "X"}},
        format="json",
    )
    assert_error(response, 400, "validation_error")
    record = only_record(tenant_a, AuditAction.CONTACTS_BULK_EDIT)
    assert (record.outcome, record.error_code) == (AuditOutcome.FAILED, "validation_error")
    assert record.message == response.json()["message"]
    contact.refresh_from_db()
    assert contact.name == "Asha"


def test_a_bulk_delete_writes_one_record(alice_client, tenant_a):
    contacts = [create_contact(tenant_a) for _ in range(2)]
    response = alice_client.post(
        f"{CONTACTS}bulk-delete/", {"contact_ids": [str(c.pk) for c in contacts]}, format="json"
    )
    assert response.status_code == 200, response.content
    record = only_record(tenant_a, AuditAction.CONTACTS_BULK_DELETE)
    assert (record.outcome, record.counts) == (
        AuditOutcome.SUCCEEDED,
        {"requested": 2, "deleted": 2},
    )


def test_a_refused_bulk_delete_is_recorded_and_deletes_nothing(alice_client, tenant_a, tenant_b):
    mine = create_contact(tenant_a)
    theirs = create_contact(tenant_b)
    response = alice_client.post(
        f"{CONTACTS}bulk-delete/", {"contact_ids": [str(mine.pk), str(theirs.pk)]}, format="json"
    )
    assert response.status_code == 404
    record = only_record(tenant_a, AuditAction.CONTACTS_BULK_DELETE)
    assert (record.outcome, record.counts) == (AuditOutcome.FAILED, {"requested": 2, "deleted": 0})
    assert Contact.objects.filter(pk__in=[mine.pk, theirs.pk]).count() == 2
    assert not AuditRecord.objects.filter(tenant=tenant_b).exists()


def test_a_bulk_tag_writes_one_record_also_when_a_contact_would_have_too_many_tags(
    alice_client, tenant_a
):
    contact = create_contact(tenant_a, tags=[f"t{i}" for i in range(50)])
    response = alice_client.post(
        f"{CONTACTS}bulk-tag/",
        {"contact_ids": [str(contact.pk)], "add": ["one-too-many"]},
        format="json",
    )
    assert_error(response, 400, "validation_error")
    failed = only_record(tenant_a, AuditAction.CONTACTS_BULK_TAG)
    assert failed.outcome == AuditOutcome.FAILED
    contact.refresh_from_db()
    assert not contact.tags.filter(name="one-too-many").exists()

    response = alice_client.post(
        f"{CONTACTS}bulk-tag/", {"contact_ids": [str(contact.pk)], "remove": ["t1"]}, format="json"
    )
    assert response.status_code == 200, response.content
    records = AuditRecord.objects.filter(tenant=tenant_a, action=AuditAction.CONTACTS_BULK_TAG)
    assert sorted(records.values_list("outcome", flat=True)) == ["failed", "succeeded"]
    assert records.get(outcome="succeeded").counts == {"requested": 1, "updated": 1}


# --- imports ------------------------------------------------------------------------------------


def test_a_bulk_import_records_what_it_imported(bob_client, bob, tenant_a):
    response = bob_client.post(
        f"{CONTACTS}bulk-import/",
        {
            "import_type": "phone_contacts",
            "contacts": [
                {"full_name": "Asha", "phone": "0712 000 101"},
                {"full_name": "Baraka", "phone": "0712 000 102"},
                {"full_name": "Nobody", "phone": "12"},
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    record = only_record(tenant_a, AuditAction.CONTACTS_BULK_IMPORT)
    assert record.outcome == AuditOutcome.SUCCEEDED
    assert record.user == bob
    assert record.counts == {"total": 3, "imported": 2, "updated": 0, "skipped": 0, "rejected": 1}


def test_a_rejected_bulk_import_file_is_recorded_and_imports_nothing(alice_client, tenant_a):
    response = alice_client.post(
        f"{CONTACTS}bulk-import/",
        {"import_type": "csv", "csv_data": "name,city\nAsha,Arusha\n"},
        format="json",
    )
    assert response.status_code == 400, response.content
    record = only_record(tenant_a, AuditAction.CONTACTS_BULK_IMPORT)
    assert record.outcome == AuditOutcome.FAILED
    assert record.error_code == response.json()["error_code"]
    assert not Contact.objects.filter(tenant=tenant_a).exists()


def test_an_import_job_upload_is_recorded_with_its_rows(alice_client, tenant_a):
    csv = b"phone,name\n0712000201,Asha\n0712000202,Baraka\n"
    response = alice_client.post(
        f"{CONTACTS}imports/",
        {"file": SimpleUploadedFile("parents.csv", csv, "text/csv"), "start": "false"},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    record = only_record(tenant_a, AuditAction.CONTACTS_IMPORT_JOB)
    assert record.outcome == AuditOutcome.SUCCEEDED
    assert record.object_ids == [str(response.json()["id"])]
    assert record.counts == {"total_rows": 2, "bytes": len(csv)}


def test_a_refused_import_job_upload_is_recorded_and_keeps_no_job(alice_client, tenant_a):
    response = alice_client.post(
        f"{CONTACTS}imports/",
        {"file": SimpleUploadedFile("x.csv", b"\x00\x01\x02binary", "text/csv")},
        format="multipart",
    )
    assert response.status_code == 400, response.content
    assert only_record(tenant_a, AuditAction.CONTACTS_IMPORT_JOB).outcome == AuditOutcome.FAILED
    assert not ImportJob.objects.filter(tenant=tenant_a).exists()


# --- campaigns and school bulk messages -----------------------------------------------------------


def test_cancelling_a_campaign_is_recorded_and_cancelling_it_again_is_a_failed_record(
    alice_client, tenant_a
):
    campaign = accept(tenant_a, 3)
    response = alice_client.post(f"/api/messaging/campaigns/{campaign.pk}/cancel/")
    assert response.status_code == 200, response.content
    record = only_record(tenant_a, AuditAction.CAMPAIGN_CANCEL)
    assert (record.outcome, record.counts) == (AuditOutcome.SUCCEEDED, {"cancelled": 3})
    assert record.object_ids == [str(campaign.pk)]

    again = alice_client.post(f"/api/messaging/campaigns/{campaign.pk}/cancel/")
    assert again.status_code == 400
    records = AuditRecord.objects.filter(tenant=tenant_a, action=AuditAction.CAMPAIGN_CANCEL)
    assert records.count() == 2
    assert records.get(outcome=AuditOutcome.FAILED).error_code == "campaign_finished"


def test_retrying_a_campaign_records_how_many_were_queued_again(alice_client, tenant_a):
    campaign = accept(tenant_a, 3)
    first = campaign.messages.order_by("to").first()
    campaign.messages.filter(pk=first.pk).update(status=MessageStatus.FAILED)
    campaign.messages.exclude(pk=first.pk).update(status=MessageStatus.SENT)
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.COMPLETED)
    response = alice_client.post(f"/api/messaging/campaigns/{campaign.pk}/retry/", {})
    assert response.status_code == 200, response.content
    record = only_record(tenant_a, AuditAction.CAMPAIGN_RETRY)
    assert (record.outcome, record.counts) == (AuditOutcome.SUCCEEDED, {"retried": 1})


def test_a_retry_with_a_bad_status_is_a_failed_record(alice_client, tenant_a):
    campaign = accept(tenant_a, 1)
    response = alice_client.post(
        f"/api/messaging/campaigns/{campaign.pk}/retry/", {"statuses": ["delivered"]}
    )
    assert response.status_code == 400
    assert only_record(tenant_a, AuditAction.CAMPAIGN_RETRY).outcome == AuditOutcome.FAILED
    assert campaign.messages.get().status == MessageStatus.QUEUED


def test_a_school_bulk_message_is_recorded_with_its_recipients(alice_client, tenant_a):
    parents = create_group(tenant_a, "All Parents", kind="system")
    for index in range(2):
        create_contact(tenant_a, group_ids=[parents.pk], email=f"p{index}@example.org")
    response = alice_client.post(
        "/api/communications/bulk-messages/",
        {
            "subject": "Mkutano",
            "message_body": "Kesho saa nne.",
            "delivery_method": "email",
            "recipient_group": "All Parents",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    record = only_record(tenant_a, AuditAction.BULK_MESSAGE_CREATE)
    assert record.outcome == AuditOutcome.SUCCEEDED
    assert record.counts == {"recipients": 2, "skipped": 0}
    assert str(response.json()["id"]) in record.object_ids

    deleted = alice_client.delete(f"/api/communications/bulk-messages/{response.json()['id']}/")
    assert deleted.status_code == 204
    removal = only_record(tenant_a, AuditAction.BULK_MESSAGE_DELETE)
    assert removal.counts == {"recipients": 2, "cancelled": 2}


def test_a_refused_school_bulk_message_is_recorded_and_sends_nothing(alice_client, tenant_a):
    response = alice_client.post(
        "/api/communications/bulk-messages/",
        {"subject": "x", "message_body": "y", "delivery_method": "email"},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert only_record(tenant_a, AuditAction.BULK_MESSAGE_CREATE).outcome == AuditOutcome.FAILED
    assert not BulkMessage.objects.filter(tenant=tenant_a).exists()
    assert not Campaign.objects.filter(tenant=tenant_a).exists()


# --- roles, API keys, credits ---------------------------------------------------------------------


def test_role_changes_and_api_keys_are_recorded(alice_client, alice, bob, tenant_a):
    promoted = alice_client.patch(f"/api/auth/users/{bob.pk}/", {"role": "admin"}, format="json")
    assert promoted.status_code == 200, promoted.content
    change = only_record(tenant_a, AuditAction.USER_UPDATE)
    assert change.counts == {"role_changed": 1, "deactivated": 0, "reactivated": 0}
    assert change.object_ids == [str(bob.pk)]

    created = alice_client.post("/api/auth/api-keys/", {"name": "SIS", "role": "member"})
    assert created.status_code == 201, created.content
    issued = only_record(tenant_a, AuditAction.API_KEY_ISSUE)
    assert issued.object_ids == [created.json()["id"]]
    # The key's secret is shown once, to the caller: never kept in the log.
    assert created.json()["key"] not in str(issued.__dict__)

    revoked = alice_client.delete(f"/api/auth/api-keys/{created.json()['id']}/")
    assert revoked.status_code == 204
    assert only_record(tenant_a, AuditAction.API_KEY_REVOKE).counts == {"keys": 1}


def test_demoting_the_last_admin_is_a_failed_record_and_changes_nothing(alice_client, alice):
    tenant = alice.membership.tenant
    response = alice_client.patch(f"/api/auth/users/{alice.pk}/", {"role": "member"}, format="json")
    assert response.status_code == 400
    record = only_record(tenant, AuditAction.USER_UPDATE)
    assert (record.outcome, record.error_code) == (AuditOutcome.FAILED, "last_admin")
    alice.membership.refresh_from_db()
    assert alice.membership.role == Role.ADMIN


def test_adding_a_user_is_recorded(alice_client, tenant_a):
    response = alice_client.post(
        "/api/auth/users/",
        {"email": "neema@a.example", "name": "Neema", "password": "a long passphrase 42"},
        format="json",
    )
    assert response.status_code == 201, response.content
    record = only_record(tenant_a, AuditAction.USER_ADD)
    assert record.object_ids == [response.json()["id"]]


def test_a_member_trying_to_create_an_api_key_is_recorded_as_refused(bob_client, bob, tenant_a):
    response = bob_client.post("/api/auth/api-keys/", {"name": "mine", "role": "admin"})
    assert response.status_code == 403
    record = only_record(tenant_a, AuditAction.API_KEY_ISSUE)
    assert (record.outcome, record.user) == (AuditOutcome.FAILED, bob)
    assert record.error_code == "permission_denied"
    assert not ApiKey.objects.filter(tenant=tenant_a).exists()


def test_a_credit_top_up_is_recorded_with_its_amount(tenant_a, db):
    staff = create_user(tenant_a, email="ops@platform.example", is_staff=True)
    entry = credit_top_up(tenant=tenant_a, amount=Decimal("250"), created_by=staff)
    record = only_record(tenant_a, AuditAction.CREDITS_TOP_UP)
    assert record.counts == {"amount": "250", "balance_after": "250"}
    assert (record.user, record.object_ids) == (staff, [str(entry.pk)])


def test_a_refused_top_up_is_recorded_and_adds_nothing(tenant_a):
    with pytest.raises(ApplicationError):
        credit_top_up(tenant=tenant_a, amount=Decimal("-5"))
    record = only_record(tenant_a, AuditAction.CREDITS_TOP_UP)
    assert (record.outcome, record.error_code, record.actor) == (
        AuditOutcome.FAILED,
        "invalid_amount",
        "system",
    )
    assert not CreditEntry.objects.filter(tenant=tenant_a).exists()


def test_a_top_up_in_the_admin_is_recorded_for_the_staff_member(client, tenant_a, settings):
    staff = create_user(tenant_a, email="root@platform.example", is_staff=True, is_superuser=True)
    client.force_login(staff)
    response = client.post(
        "/admin/messaging/creditaccount/top-up/",
        {"tenant": str(tenant_a.pk), "amount": "40", "note": "M-Pesa 8812"},
    )
    assert response.status_code == 302, response.content
    record = only_record(tenant_a, AuditAction.CREDITS_TOP_UP)
    assert (record.user, record.actor, record.outcome) == (
        staff,
        "root@platform.example",
        AuditOutcome.SUCCEEDED,
    )
    assert record.request_id  # the admin's request has an id too


# --- reading the log ------------------------------------------------------------------------------


def _some_records(tenant_a, tenant_b, alice_client, charlie_client):
    contact = create_contact(tenant_a)
    alice_client.post(
        f"{CONTACTS}bulk-tag/", {"contact_ids": [str(contact.pk)], "add": ["x"]}, format="json"
    )
    alice_client.post(
        f"{CONTACTS}bulk-delete/", {"contact_ids": [str(uuid.uuid4())]}, format="json"
    )
    theirs = create_contact(tenant_b)
    charlie_client.post(f"{CONTACTS}bulk-delete/", {"contact_ids": [str(theirs.pk)]}, format="json")


def test_admins_read_their_log_newest_first_paginated(
    alice_client, charlie_client, tenant_a, tenant_b
):
    _some_records(tenant_a, tenant_b, alice_client, charlie_client)
    response = alice_client.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"count", "next", "previous", "results"}
    assert body["count"] == 2
    assert [r["action"] for r in body["results"]] == ["contacts.bulk_delete", "contacts.bulk_tag"]
    assert set(body["results"][0]) == {
        "id",
        "created_at",
        "action",
        "outcome",
        "user",
        "api_key",
        "actor",
        "object_ids",
        "counts",
        "error_code",
        "message",
        "request_id",
    }
    assert alice_client.get(URL, {"page_size": 1}).json()["next"]


def test_the_log_filters_by_action_user_outcome_and_date(
    alice_client, charlie_client, alice, bob, tenant_a, tenant_b
):
    _some_records(tenant_a, tenant_b, alice_client, charlie_client)
    bob_key, plain = issue_api_key(bob)
    api_key_client(plain).post(
        f"{CONTACTS}bulk-delete/",
        {"contact_ids": [str(create_contact(tenant_a).pk)]},
        format="json",
    )

    def actions(**query):
        return sorted(r["action"] for r in alice_client.get(URL, query).json()["results"])

    assert actions(action="contacts.bulk_tag") == ["contacts.bulk_tag"]
    assert actions(outcome="failed") == ["contacts.bulk_delete"]
    assert actions(user=str(alice.pk)) == ["contacts.bulk_delete", "contacts.bulk_tag"]
    by_key = alice_client.get(URL, {"user": str(bob.pk)}).json()["results"]
    assert [(r["api_key"], r["actor"]) for r in by_key] == [(str(bob_key.pk), "api key Server")]
    today = AuditRecord.objects.filter(tenant=tenant_a).first().created_at.date()
    assert len(actions(date=today.isoformat())) == 3
    assert actions(date="2001-01-01") == []
    assert_error(alice_client.get(URL, {"action": "no.such"}), 400)


def test_a_member_cannot_read_the_log(bob_client, alice_client, tenant_a):
    record = AuditRecord.objects.create(tenant=tenant_a, action="user.add", outcome="succeeded")
    assert_error(bob_client.get(URL), 403, "permission_denied")
    assert_error(bob_client.get(f"{URL}{record.pk}/"), 403, "permission_denied")


def test_cancelling_another_tenants_campaign_is_a_404_recorded_for_the_caller_only(
    alice_client, tenant_a, tenant_b
):
    theirs = accept(tenant_b, 1)
    response = alice_client.post(f"/api/messaging/campaigns/{theirs.pk}/cancel/")
    assert_error(response, 404, "not_found")
    record = only_record(tenant_a, AuditAction.CAMPAIGN_CANCEL)
    assert (record.outcome, record.error_code) == (AuditOutcome.FAILED, "not_found")
    assert not AuditRecord.objects.filter(tenant=tenant_b).exists()
    assert Campaign.objects.get(pk=theirs.pk).status == CampaignStatus.QUEUED


def test_another_tenants_record_is_a_404(alice_client, charlie_client, tenant_b, tenant_a):
    theirs = AuditRecord.objects.create(tenant=tenant_b, action="user.add", outcome="succeeded")
    mine = AuditRecord.objects.create(tenant=tenant_a, action="user.add", outcome="succeeded")
    assert_error(alice_client.get(f"{URL}{theirs.pk}/"), 404)
    assert alice_client.get(f"{URL}{mine.pk}/").json()["id"] == mine.pk
    assert charlie_client.get(URL).json()["count"] == 1


def test_records_cannot_be_changed_or_deleted_through_the_api(alice_client, tenant_a):
    record = AuditRecord.objects.create(tenant=tenant_a, action="user.add", outcome="succeeded")
    for method in ("put", "patch", "delete"):
        response = getattr(alice_client, method)(f"{URL}{record.pk}/", {"outcome": "failed"})
        assert response.status_code == 405, (method, response.content)
    assert alice_client.post(URL, {"action": "user.add"}).status_code == 405
    record.refresh_from_db()
    assert record.outcome == "succeeded"
    assert AuditRecord.objects.filter(tenant=tenant_a).count() == 1


def test_anonymous_callers_get_401(anon):
    assert_error(anon.get(URL), 401)


def test_the_django_admin_lists_records_but_cannot_change_or_delete_them(client, tenant_a):
    staff = create_user(tenant_a, email="root@platform.example", is_staff=True, is_superuser=True)
    record = AuditRecord.objects.create(tenant=tenant_a, action="user.add", outcome="succeeded")
    client.force_login(staff)
    listing = client.get("/admin/tenancy/auditrecord/")
    assert listing.status_code == 200
    assert b"user.add" in listing.content or b"User added" in listing.content
    assert (
        client.post(f"/admin/tenancy/auditrecord/{record.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    client.post(f"/admin/tenancy/auditrecord/{record.pk}/change/", {"outcome": "failed"})
    record.refresh_from_db()
    assert record.outcome == "succeeded"
    assert AuditRecord.objects.filter(pk=record.pk).exists()
