"""/api/communications/bulk-messages/: the spec's examples, validation, list filters, who may
use it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils.timezone import now

from mifumo.communications.models import BulkMessage
from mifumo.delivery.models import Campaign, CampaignStatus, Channel, Message
from tests.communications.conftest import URL, detail, send_all
from tests.helpers import assert_error

SPEC_KEYS = {
    "id",
    "sender",
    "recipient_group",
    "custom_recipients",
    "subject",
    "message_body",
    "delivery_method",
    "status",
    "scheduled_time",
    "sent_time",
}
# The spec's "Create Bulk Message" request body, verbatim.
SPEC_CREATE = {
    "recipient_group": "All Students",
    "custom_recipients": "test@example.com,+15551234567",
    "subject": "Important Announcement",
    "message_body": "This is the message body.",
    "delivery_method": "email",
    "scheduled_time": None,
}
# The spec's frontend example, verbatim.
SPEC_FRONTEND = {
    "recipient_group": "All Students",
    "subject": "School Closure Announcement",
    "message_body": "School will be closed tomorrow due to...",
    "delivery_method": "email",
}


def sms(**fields) -> dict:
    return {"recipient_group": "All Parents", "message_body": "Mkutano Jumamosi", **fields} | {
        "delivery_method": "sms"
    }


def create(client, body) -> dict:
    response = client.post(URL, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_it_creates_the_spec_example_and_answers_201_pending(alice_client, school, tenant_a):
    response = alice_client.post(URL, SPEC_CREATE, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) >= SPEC_KEYS
    assert isinstance(body["id"], int)
    assert body["sender"] == "Alice"
    assert {key: body[key] for key in SPEC_CREATE} == SPEC_CREATE
    assert body["status"] == "Pending"
    assert body["sent_time"] is None
    # All Students with an e-mail address (Asha, Chausiku) and test@example.com; Baraka has
    # no address and +15551234567 is no one's number: both counted and reported.
    assert body["total_recipients"] == 3
    assert body["skipped_count"] == 2
    assert {(s["name"], s["reason"]) for s in body["skipped_recipients"]} == {
        ("Baraka Juma", "no e-mail address"),
        ("", "no contact has this number (Invalid phone number format: '+15551234567' is "
         "not a valid number for TZ)"),
    }  # fmt: skip
    campaign = Campaign.objects.get(pk=body["campaign_id"])
    assert (campaign.channel, campaign.subject, campaign.body) == (
        Channel.EMAIL,
        "Important Announcement",
        "This is the message body.",
    )
    assert campaign.origin == "communications" and campaign.status == CampaignStatus.QUEUED
    assert set(campaign.messages.values_list("to", flat=True)) == {
        "asha@students.example",
        "chausiku@students.example",
        "test@example.com",
    }


def test_the_spec_frontend_example_is_accepted(alice_client, school):
    body = create(alice_client, SPEC_FRONTEND)
    assert body["custom_recipients"] == "" and body["scheduled_time"] is None
    assert body["total_recipients"] == 2


def test_the_list_is_the_spec_plain_array_newest_first(alice_client, school, mail_server):
    first = create(alice_client, SPEC_CREATE)
    second = create(alice_client, sms(subject=""))
    send_all(first["campaign_id"])
    response = alice_client.get(URL)
    assert response.status_code == 200
    listed = response.json()
    assert isinstance(listed, list)
    assert [m["id"] for m in listed] == [second["id"], first["id"]]
    assert all(set(m) >= SPEC_KEYS for m in listed)
    sent = listed[1]
    assert sent["status"] == "Sent" and sent["sent_time"]
    assert (sent["sent_count"], sent["failed_count"], sent["total_recipients"]) == (3, 0, 3)
    assert "skipped_recipients" not in sent and sent["skipped_count"] == 2


def test_it_retrieves_one_message_as_the_spec_shows(alice_client, school, mail_server):
    created = create(alice_client, SPEC_CREATE)
    send_all(created["campaign_id"])
    response = alice_client.get(detail(created["id"]))
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= SPEC_KEYS
    assert body["status"] == "Sent"
    assert body["sent_time"] is not None
    assert body["skipped_count"] == 2 and len(body["skipped_recipients"]) == 2


def test_patch_status_failed_is_the_spec_example(alice_client, school):
    created = create(alice_client, {**SPEC_CREATE, "scheduled_time": _later()})
    response = alice_client.patch(detail(created["id"]), {"status": "Failed"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "Failed"
    assert (body["sent_count"], body["failed_count"]) == (0, 3)
    assert set(Message.objects.values_list("status", flat=True)) == {"cancelled"}


def test_delete_answers_204_and_the_message_is_gone(alice_client, school):
    created = create(alice_client, SPEC_CREATE)
    response = alice_client.delete(detail(created["id"]))
    assert response.status_code == 204
    assert response.content == b""
    assert_error(alice_client.get(detail(created["id"])), 404, "not_found")
    assert set(Message.objects.values_list("status", flat=True)) == {"cancelled"}


def _later(hours: int = 2) -> str:
    return (now() + timedelta(hours=hours)).isoformat()


class TestListFilters:
    @pytest.fixture
    def messages(self, alice_client, school, mail_server):
        sent = create(alice_client, SPEC_CREATE)
        send_all(sent["campaign_id"])
        scheduled = create(
            alice_client,
            sms(recipient_group="Form 2B", message_body="Ada ya muhula", scheduled_time=_later()),
        )
        failed = create(alice_client, sms(message_body="Safari ya shule imeahirishwa"))
        alice_client.patch(detail(failed["id"]), {"status": "Failed"}, format="json")
        return {"sent": sent["id"], "scheduled": scheduled["id"], "failed": failed["id"]}

    def ids(self, client, query) -> list[int]:
        response = client.get(URL + query)
        assert response.status_code == 200, response.content
        return [m["id"] for m in response.json()]

    def test_by_recipient_group(self, alice_client, messages):
        assert self.ids(alice_client, "?recipient_group=All Students") == [messages["sent"]]
        assert self.ids(alice_client, "?recipient_group=form 2b") == [messages["scheduled"]]

    def test_by_status(self, alice_client, messages):
        assert self.ids(alice_client, "?status=Pending") == [messages["scheduled"]]
        assert self.ids(alice_client, "?status=Sent") == [messages["sent"]]
        assert self.ids(alice_client, "?status=Failed") == [messages["failed"]]

    def test_by_delivery_method(self, alice_client, messages):
        assert self.ids(alice_client, "?delivery_method=email") == [messages["sent"]]
        assert self.ids(alice_client, "?delivery_method=sms") == [
            messages["failed"],
            messages["scheduled"],
        ]

    def test_search_over_subject_and_body(self, alice_client, messages):
        assert self.ids(alice_client, "?search=Important Announcement") == [messages["sent"]]
        assert self.ids(alice_client, "?search=muhula") == [messages["scheduled"]]
        assert self.ids(alice_client, "?search=nothing-like-this") == []

    def test_an_unknown_status_is_a_400(self, alice_client, messages):
        assert_error(alice_client.get(URL + "?status=Delivered"), 400, "validation_error")

    def test_pages_only_when_asked(self, alice_client, messages):
        body = alice_client.get(URL + "?page=1&page_size=2").json()
        assert body["count"] == 3
        assert [m["id"] for m in body["results"]] == [messages["failed"], messages["scheduled"]]
        assert body["next"] and body["previous"] is None


class TestValidation:
    def test_an_email_needs_a_subject(self, alice_client, school):
        body = assert_error(
            alice_client.post(URL, {**SPEC_CREATE, "subject": ""}, format="json"),
            400,
            "validation_error",
        )
        assert "subject" in body["details"]

    def test_an_sms_needs_no_subject(self, alice_client, school):
        assert create(alice_client, sms())["subject"] == ""

    def test_the_body_and_the_delivery_method_are_required(self, alice_client, school):
        body = assert_error(
            alice_client.post(URL, {"recipient_group": "All Parents"}, format="json"), 400
        )
        assert set(body["details"]) == {"message_body", "delivery_method"}
        body = assert_error(alice_client.post(URL, sms(message_body="  "), format="json"), 400)
        assert "message_body" in body["details"]

    def test_the_delivery_method_is_email_or_sms(self, alice_client, school):
        body = assert_error(
            alice_client.post(URL, {**SPEC_CREATE, "delivery_method": "whatsapp"}, format="json"),
            400,
        )
        assert "delivery_method" in body["details"]

    def test_a_group_or_custom_recipients_are_needed(self, alice_client, school):
        body = assert_error(
            alice_client.post(URL, sms(recipient_group=""), format="json"), 400, "validation_error"
        )
        assert "recipient_group" in body["details"]

    def test_an_unknown_group_is_a_400_that_names_it(self, alice_client, school):
        body = assert_error(
            alice_client.post(URL, sms(recipient_group="Form 9Z"), format="json"),
            400,
            "unknown_recipient_group",
        )
        assert "Form 9Z" in body["message"]

    def test_an_empty_group_is_a_400_not_an_empty_send(self, alice_client, tenant_a):
        body = assert_error(
            alice_client.post(URL, sms(recipient_group="All Teachers"), format="json"),
            400,
            "no_recipients",
        )
        assert body["details"]["skipped_count"] == 0
        assert not Campaign.objects.exists() and not BulkMessage.objects.exists()

    def test_a_group_where_nobody_has_an_address_is_a_400_listing_them(self, alice_client, school):
        body = assert_error(
            alice_client.post(
                URL, {**SPEC_FRONTEND, "recipient_group": "All Staff"}, format="json"
            ),
            400,
            "no_recipients",
        )
        assert body["details"]["skipped_recipients"] == [
            {
                "name": "Mlinzi Hamisi",
                "phone": school.phone("Mlinzi Hamisi"),
                "email": "",
                "reason": "no e-mail address",
            }
        ]

    def test_a_schedule_in_the_past_is_refused(self, alice_client, school):
        past = (now() - timedelta(hours=1)).isoformat()
        body = assert_error(alice_client.post(URL, sms(scheduled_time=past), format="json"), 400)
        assert "scheduled_time" in body["details"]

    def test_a_new_message_cannot_be_created_sent(self, alice_client, school):
        body = assert_error(alice_client.post(URL, sms(status="Sent"), format="json"), 400)
        assert "status" in body["details"]

    def test_unknown_fields_are_refused(self, alice_client, school):
        body = assert_error(alice_client.post(URL, sms(recipients="x"), format="json"), 400)
        assert "recipients" in body["details"]

    def test_a_scheduled_message_waits_for_its_time(self, alice_client, school):
        at = now() + timedelta(hours=3)
        body = create(alice_client, sms(scheduled_time=at.isoformat()))
        campaign = Campaign.objects.get(pk=body["campaign_id"])
        assert campaign.status == CampaignStatus.SCHEDULED
        assert abs((campaign.scheduled_at - at).total_seconds()) < 1


class TestWhoMayUseIt:
    def test_a_member_gets_403_everywhere(self, bob_client, alice_client, school):
        created = create(alice_client, sms())
        for response in [
            bob_client.get(URL),
            bob_client.post(URL, sms(), format="json"),
            bob_client.get(detail(created["id"])),
            bob_client.patch(detail(created["id"]), {"status": "Failed"}, format="json"),
            bob_client.delete(detail(created["id"])),
            bob_client.get("/api/communications/recipient-groups/"),
        ]:
            assert_error(response, 403, "permission_denied")
        assert BulkMessage.objects.get().status == "Pending"

    def test_another_tenants_message_is_a_404(self, charlie_client, alice_client, school):
        created = create(alice_client, sms())
        for response in [
            charlie_client.get(detail(created["id"])),
            charlie_client.patch(detail(created["id"]), {"status": "Failed"}, format="json"),
            charlie_client.delete(detail(created["id"])),
        ]:
            assert_error(response, 404, "not_found")
        assert charlie_client.get(URL).json() == []
        assert BulkMessage.objects.get().status == "Pending"
        assert Message.objects.filter(status="cancelled").count() == 0

    def test_another_tenants_groups_are_not_found(self, charlie_client, school):
        assert_error(
            charlie_client.post(URL, sms(recipient_group="Form 2B"), format="json"),
            400,
            "unknown_recipient_group",
        )

    def test_an_anonymous_caller_is_refused(self, anon):
        assert_error(anon.get(URL), 401)
