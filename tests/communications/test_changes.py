"""PATCH and DELETE: edits before dispatch, cancelling and deleting while messages are being
sent under a rate limit, and the status changes that are refused with the reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils.timezone import now

from mifumo.communications.models import BulkMessage
from mifumo.delivery import dispatch
from mifumo.delivery.models import Campaign, CampaignStatus, Message
from mifumo.delivery.providers.arkesel import ArkeselProvider
from tests.communications.conftest import URL, arkesel_accepts, detail, send_all
from tests.helpers import assert_error

OTHERS = ["+255765111201", "+255765111202", "+255765111203"]


def create(client, **fields) -> dict:
    fields = {"recipient_group": "All Parents", "delivery_method": "sms", **fields}
    fields.setdefault("message_body", "Mkutano Jumamosi")
    response = client.post(URL, fields, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def later(hours: float = 2) -> str:
    return (now() + timedelta(hours=hours)).isoformat()


def patch(client, pk, body):
    return client.patch(detail(pk), body, format="json")


class TestEditsBeforeDispatch:
    def test_content_and_schedule_of_a_scheduled_message_may_change(self, alice_client, school):
        created = create(alice_client, scheduled_time=later())
        new_time = later(5)
        response = patch(
            alice_client,
            created["id"],
            {"message_body": "Mkutano umeahirishwa", "scheduled_time": new_time},
        )
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["message_body"] == "Mkutano umeahirishwa"
        assert body["status"] == "Pending" and body["total_recipients"] == 2
        # The first version's campaign is cancelled, unsent; the new one waits for the new time.
        old = Campaign.objects.get(pk=created["campaign_id"])
        assert old.status == CampaignStatus.CANCELLED
        assert set(old.messages.values_list("status", flat=True)) == {"cancelled"}
        new = Campaign.objects.get(pk=body["campaign_id"])
        assert new.status == CampaignStatus.SCHEDULED and new.body == "Mkutano umeahirishwa"
        assert abs((new.scheduled_at - (now() + timedelta(hours=5))).total_seconds()) < 5
        assert set(new.messages.values_list("body", flat=True)) == {"Mkutano umeahirishwa"}

    def test_the_recipients_and_the_method_may_change_too(self, alice_client, school):
        created = create(alice_client, scheduled_time=later())
        body = patch(
            alice_client,
            created["id"],
            {"recipient_group": "Form 1A", "delivery_method": "email", "subject": "Taarifa"},
        ).json()
        assert (body["recipient_group"], body["delivery_method"]) == ("Form 1A", "email")
        new = Campaign.objects.get(pk=body["campaign_id"])
        assert list(new.messages.values_list("to", flat=True)) == ["chausiku@students.example"]

    def test_an_edit_is_checked_like_a_new_message(self, alice_client, school):
        created = create(alice_client, scheduled_time=later())
        assert_error(
            patch(alice_client, created["id"], {"delivery_method": "email"}),
            400,
            "validation_error",
        )  # an e-mail needs a subject
        assert_error(
            patch(alice_client, created["id"], {"custom_recipients": "hello"}),
            400,
            "invalid_recipients",
        )
        assert_error(patch(alice_client, created["id"], {"message_body": ""}), 400)
        assert Campaign.objects.get(pk=created["campaign_id"]).status == CampaignStatus.SCHEDULED

    def test_clearing_the_schedule_sends_now(self, alice_client, school, arkesel):
        created = create(alice_client, scheduled_time=later())
        body = patch(alice_client, created["id"], {"scheduled_time": None}).json()
        assert body["scheduled_time"] is None
        assert Campaign.objects.get(pk=body["campaign_id"]).status == CampaignStatus.QUEUED
        arkesel_accepts(arkesel, school.phones("Juma Ally", "Mama Chausiku"))
        send_all(body["campaign_id"])
        assert alice_client.get(detail(created["id"])).json()["status"] == "Sent"
        assert len(arkesel.requests) == 1

    def test_content_cannot_change_once_sending_began(self, alice_client, school, arkesel):
        arkesel_accepts(arkesel, school.phones("Juma Ally", "Mama Chausiku"))
        created = create(alice_client)
        send_all(created["campaign_id"])
        body = assert_error(
            patch(alice_client, created["id"], {"message_body": "Too late"}), 400, "not_editable"
        )
        assert "already being sent" in body["message"]
        assert BulkMessage.objects.get().message_body == "Mkutano Jumamosi"

    def test_a_queued_message_no_worker_has_taken_may_still_change(self, alice_client, school):
        created = create(alice_client)  # queued for dispatch, no worker has run it
        body = patch(alice_client, created["id"], {"message_body": "Corrected"}).json()
        assert body["message_body"] == "Corrected"
        assert Campaign.objects.get(pk=created["campaign_id"]).status == CampaignStatus.CANCELLED
        # The old campaign's dispatch task, when it runs, finds nothing to send.
        assert dispatch.dispatch(created["campaign_id"]).sent == 0


class TestStatusChanges:
    def test_failed_cancels_a_scheduled_message(self, alice_client, school):
        created = create(alice_client, scheduled_time=later())
        body = patch(alice_client, created["id"], {"status": "Failed"}).json()
        assert (body["status"], body["sent_count"], body["failed_count"]) == ("Failed", 0, 2)
        assert body["sent_time"] is not None
        campaign = Campaign.objects.get(pk=created["campaign_id"])
        assert campaign.status == CampaignStatus.CANCELLED
        # Cancelling again changes nothing.
        assert patch(alice_client, created["id"], {"status": "Failed"}).status_code == 200

    @pytest.mark.parametrize("status", ["Sent", "Pending"])
    def test_other_changes_of_a_failed_message_are_refused(self, alice_client, school, status):
        created = create(alice_client, scheduled_time=later())
        patch(alice_client, created["id"], {"status": "Failed"})
        body = assert_error(patch(alice_client, created["id"], {"status": status}), 400)
        assert "Create a new bulk message" in body["message"]

    def test_pending_cannot_be_set_to_sent(self, alice_client, school):
        created = create(alice_client, scheduled_time=later())
        body = assert_error(
            patch(alice_client, created["id"], {"status": "Sent"}), 400, "validation_error"
        )
        assert "by itself" in body["message"] and '"Failed"' in body["message"]
        assert BulkMessage.objects.get().status == "Pending"

    def test_a_sent_message_cannot_be_cancelled(self, alice_client, school, arkesel):
        arkesel_accepts(arkesel, school.phones("Juma Ally", "Mama Chausiku"))
        created = create(alice_client)
        send_all(created["campaign_id"])
        for status in ["Failed", "Pending"]:
            body = assert_error(patch(alice_client, created["id"], {"status": status}), 400)
            assert "has been sent" in body["message"]
        assert BulkMessage.objects.get().status == "Sent"

    def test_a_status_change_with_other_fields_is_refused(self, alice_client, school):
        created = create(alice_client, scheduled_time=later())
        assert_error(patch(alice_client, created["id"], {"status": "Failed", "subject": "x"}), 400)
        assert BulkMessage.objects.get().status == "Pending"

    def test_an_unknown_status_is_refused(self, alice_client, school):
        created = create(alice_client, scheduled_time=later())
        body = assert_error(patch(alice_client, created["id"], {"status": "Cancelled"}), 400)
        assert "status" in body["details"]


class TestDuringSending:
    """A worker holds the messages it claimed while the rate limit spaces its requests; the
    admin's PATCH or DELETE arrives after the first request (run here from inside the vendor
    call, so the timing is exact): nothing more may reach the vendor."""

    @pytest.fixture
    def sending(self, alice_client, school, arkesel, monkeypatch):
        monkeypatch.setenv("ARKESEL_RATE_LIMIT", "60/m")
        to = school.phones("Juma Ally", "Mama Chausiku") | set(OTHERS)
        arkesel_accepts(arkesel, to, times=5)
        created = create(alice_client, custom_recipients=",".join(OTHERS))
        assert created["total_recipients"] == 5
        return created

    def interrupt_after_first_request(self, monkeypatch, action):
        send = ArkeselProvider.send
        calls = []

        def send_then_act(provider, batch):
            results = send(provider, batch)
            calls.append(len(batch))
            if len(calls) == 1:
                action()
            return results

        monkeypatch.setattr(ArkeselProvider, "send", send_then_act)
        return calls

    def test_patch_failed_stops_what_has_not_been_sent(
        self, alice_client, sending, arkesel, monkeypatch
    ):
        responses = []
        self.interrupt_after_first_request(
            monkeypatch,
            lambda: responses.append(patch(alice_client, sending["id"], {"status": "Failed"})),
        )
        send_all(sending["campaign_id"])

        assert responses[0].status_code == 200, responses[0].content
        assert len(arkesel.requests) == 1
        statuses = sorted(Message.objects.values_list("status", flat=True))
        assert statuses == ["cancelled"] * 4 + ["sent"]
        body = alice_client.get(detail(sending["id"])).json()
        assert (body["status"], body["sent_count"], body["failed_count"]) == ("Failed", 1, 4)

    def test_delete_answers_204_and_nothing_more_goes_out(
        self, alice_client, sending, arkesel, monkeypatch
    ):
        responses = []
        self.interrupt_after_first_request(
            monkeypatch, lambda: responses.append(alice_client.delete(detail(sending["id"])))
        )
        send_all(sending["campaign_id"])

        assert responses[0].status_code == 204
        assert len(arkesel.requests) == 1
        statuses = sorted(Message.objects.values_list("status", flat=True))
        assert statuses == ["cancelled"] * 4 + ["sent"]
        assert_error(alice_client.get(detail(sending["id"])), 404)
        assert not BulkMessage.objects.exists()
        # Another dispatch (a redelivered task, the sweep) sends nothing either.
        dispatch.dispatch(sending["campaign_id"])
        assert len(arkesel.requests) == 1

    def test_content_cannot_change_during_sending(
        self, alice_client, sending, arkesel, monkeypatch
    ):
        responses = []
        self.interrupt_after_first_request(
            monkeypatch,
            lambda: responses.append(patch(alice_client, sending["id"], {"message_body": "x"})),
        )
        send_all(sending["campaign_id"])
        assert_error(responses[0], 400, "not_editable")
        assert len(arkesel.requests) == 5
        assert {r.json()["message"] for r in arkesel.requests} == {"Mkutano Jumamosi"}
        assert alice_client.get(detail(sending["id"])).json()["status"] == "Sent"
