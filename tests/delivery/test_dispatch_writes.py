"""The engine's bulk statements on their own: claiming a batch and writing outcomes (one
UPDATE for many messages, by hand-written SQL on PostgreSQL and SQLite alike)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.utils.timezone import now

from mifumo.delivery import dispatch, services
from mifumo.delivery.models import Campaign, Channel, Message, MessageStatus
from mifumo.delivery.services import Recipient


@pytest.fixture
def campaign(tenant_a):
    with mock.patch("mifumo.delivery.services._queue_dispatch"):
        return services.campaign_accept(
            tenant=tenant_a,
            recipients=[Recipient(to=f"+2557130000{i:02d}", body="Habari") for i in range(12)],
        )


def test_claims_never_hand_out_a_message_twice_and_take_only_due_ones(campaign):
    later = Message.objects.filter(campaign=campaign).order_by("to")[:2]
    Message.objects.filter(pk__in=[m.pk for m in later]).update(
        next_attempt_at=now() + timedelta(hours=1)
    )
    first = dispatch.claim(campaign, 4)
    second = dispatch.claim(campaign, 100)
    assert len(first) == 4
    assert len(second) == 6
    assert not {m.pk for m in first} & {m.pk for m in second}
    assert all(m.status == MessageStatus.SENDING and m.attempts == 1 for m in first + second)
    stored = Message.objects.filter(pk__in=[m.pk for m in first + second])
    assert set(stored.values_list("status", "attempts")) == {(MessageStatus.SENDING, 1)}
    assert dispatch.claim(campaign, 100) == []


def test_outcomes_are_written_in_one_statement_each_to_its_own_message(
    campaign, django_assert_num_queries
):
    sent, failed, unknown = dispatch.claim(campaign, 3)
    earlier = now() - timedelta(days=1)
    Message.objects.filter(pk=failed.pk).update(provider_message_id="old-id", sent_at=earlier)
    outcomes = [
        (sent.pk, MessageStatus.SENT, "vendor-1", "", "", Decimal("0.0150")),
        (failed.pk, MessageStatus.FAILED, None, "1003", "Invalid number", None),
        (unknown.pk, MessageStatus.UNKNOWN, None, "no_answer", "No answer", None),
    ]
    stamp = now()
    with django_assert_num_queries(1):
        dispatch.write_outcomes(outcomes, "arkesel", stamp)
    rows = {m.pk: m for m in Message.objects.filter(campaign=campaign)}
    assert (rows[sent.pk].status, rows[sent.pk].provider_message_id) == ("sent", "vendor-1")
    assert (rows[sent.pk].sent_at, rows[sent.pk].cost) == (stamp, Decimal("0.0150"))
    assert rows[sent.pk].provider == "arkesel" and rows[sent.pk].lease_expires_at is None
    # A refusal keeps what the message had: its vendor id and when it was sent before.
    assert rows[failed.pk].status == "failed"
    assert (rows[failed.pk].provider_message_id, rows[failed.pk].sent_at) == ("old-id", earlier)
    assert (rows[failed.pk].error_code, rows[failed.pk].error_message) == (
        "1003",
        "Invalid number",
    )
    assert (rows[unknown.pk].status, rows[unknown.pk].error_code) == ("unknown", "no_answer")
    assert rows[unknown.pk].sent_at is None
    # The rest of the campaign is untouched.
    others = [m for pk, m in rows.items() if pk not in {sent.pk, failed.pk, unknown.pk}]
    assert {m.status for m in others} == {MessageStatus.QUEUED}
    assert all(m.updated_at < stamp for m in others)


def test_more_outcomes_than_one_statement_takes(campaign, monkeypatch):
    monkeypatch.setattr(dispatch, "OUTCOME_CHUNK", 5)
    claimed = dispatch.claim(campaign, 100)
    outcomes = [(m.pk, MessageStatus.SENT, f"id-{m.to}", "", "", None) for m in claimed]
    dispatch.write_outcomes(outcomes, "arkesel", now())
    rows = Message.objects.filter(campaign=campaign)
    assert {m.status for m in rows} == {MessageStatus.SENT}
    assert {m.provider_message_id for m in rows} == {f"id-{m.to}" for m in rows}


@pytest.mark.parametrize(
    "body",
    ["Habari\tmzazi", "Mstari wa kwanza\nwa pili\r\n", "C:\\shule\\ada", "\\N", "Karibu!"],
)
def test_new_messages_keep_every_character_of_their_text(tenant_a, body):
    # A new campaign's messages go by COPY on PostgreSQL, whose text format must escape
    # backslash, tab, newline and carriage return (and "\N" would read as NULL); a campaign
    # given more recipients later goes by INSERT. Both must store the text as it was given.
    with mock.patch("mifumo.delivery.services._queue_dispatch"):
        campaign = services.campaign_accept(
            tenant=tenant_a, recipients=[Recipient(to="+255713000001", body=body)]
        )
        services.campaign_add_recipients(
            campaign=campaign, recipients=[Recipient(to="+255713000002", body=body)]
        )
    assert list(Message.objects.filter(campaign=campaign).values_list("body", flat=True)) == [
        body,
        body,
    ]


def test_a_chunk_with_one_text_to_escape_keeps_every_text_and_count(tenant_a, monkeypatch):
    # COPY checks each chunk once and escapes the whole chunk when one text needs it; the
    # segments are counted on the text as given (80 backslashes are 160 septets: 1 segment;
    # escaped, 320). Costs are formatted once per value.
    monkeypatch.setattr(services, "COPY_CHUNK", 3)
    bodies = ["Habari", "\\" * 80, "Karibu", "Tab\there", "Plain", "Mwisho"]
    costs = [Decimal("25.5000"), None, Decimal("25.5000"), Decimal("51"), None, Decimal("25.5")]
    with mock.patch("mifumo.delivery.services._queue_dispatch"):
        campaign = services.campaign_accept(
            tenant=tenant_a,
            recipients=[
                Recipient(to=f"+25571300001{i}", body=body, cost=cost)
                for i, (body, cost) in enumerate(zip(bodies, costs, strict=True))
            ],
        )
    stored = Message.objects.filter(campaign=campaign).order_by("to")
    assert [(m.body, m.segments, m.cost) for m in stored] == [
        (body, 1, cost) for body, cost in zip(bodies, costs, strict=True)
    ]
    assert Campaign.objects.get(pk=campaign.pk).total_segments == 6


def test_an_email_subject_with_a_tab_is_stored_as_given(tenant_a):
    with mock.patch("mifumo.delivery.services._queue_dispatch"):
        campaign = services.campaign_accept(
            tenant=tenant_a,
            channel=Channel.EMAIL,
            subject="Ada\tya muhula \\ 2",
            recipients=[Recipient(to=f"mzazi{i}@shule.example", body="Habari") for i in range(3)],
        )
    assert {m.subject for m in Message.objects.filter(campaign=campaign)} == {"Ada\tya muhula \\ 2"}


@pytest.mark.parametrize("scheduled", [False, True])
def test_new_messages_start_queued_unattempted_and_due_when_their_campaign_is(tenant_a, scheduled):
    # On PostgreSQL COPY leaves these columns to the table's defaults (migration 0006).
    before = now()
    at = before + timedelta(hours=3) if scheduled else None
    with mock.patch("mifumo.delivery.services._queue_dispatch"):
        campaign = services.campaign_accept(
            tenant=tenant_a,
            scheduled_at=at,
            recipients=[Recipient(to=f"+25571300000{i}", body="Habari") for i in range(3)],
        )
    after = now()
    messages = list(Message.objects.filter(campaign=campaign))
    assert len(messages) == 3
    for message in messages:
        assert message.status == MessageStatus.QUEUED
        assert (message.attempts, message.provider, message.provider_message_id) == (0, "", "")
        assert (message.error_code, message.error_message) == ("", "")
        # The database's clock and this one are the machine's; allow for the transaction.
        assert before - timedelta(seconds=1) <= message.created_at <= after
        assert message.updated_at == message.created_at
        if scheduled:
            assert message.next_attempt_at == at
        else:
            assert before - timedelta(seconds=1) <= message.next_attempt_at <= after
