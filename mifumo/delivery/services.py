"""Accepting, cancelling and retrying campaigns, and the bookkeeping of message states.

Every later feature that sends (bulk send, uploads, school messages, the dashboard) calls
campaign_accept: one transaction writes the campaign and all its messages with bulk inserts,
and dispatch is queued only once that transaction has committed.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils.timezone import now

from mifumo.delivery.models import (
    CAMPAIGN_FINISHED,
    MESSAGE_PENDING,
    Campaign,
    CampaignStatus,
    Channel,
    Message,
    MessageStatus,
    ProviderAccount,
)
from mifumo.delivery.providers.base import DeliveryReport, DeliveryStatus
from mifumo.delivery.segments import count_segments
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.models import Tenant, User

INSERT_BATCH = 2000


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs 3 times more
class Recipient:
    """One rendered message for one address (E.164 for SMS, e-mail for e-mail)."""

    to: str
    body: str
    subject: str = ""
    contact_id: uuid.UUID | None = None
    cost: Decimal | None = None  # set by the caller when credits are on
    # Counted already by a caller that priced the message; counted here otherwise.
    segments: int = 0
    encoding: str = ""


def _queue_dispatch(campaign_id: uuid.UUID) -> None:
    from mifumo.delivery.tasks import dispatch_campaign

    dispatch_campaign.delay(str(campaign_id))


@transaction.atomic
def campaign_accept(*, recipients: Sequence[Recipient], **campaign_fields) -> Campaign:
    """Write a campaign and one message per distinct recipient, then queue its dispatch.

    `campaign_fields` are campaign_open's. The same address twice is one message (the first
    one's text): the (campaign, to) unique constraint would refuse the second anyway, and
    nobody wants two copies.
    """
    if not recipients:
        raise ApplicationError(
            "A campaign needs at least one recipient.", error_code="no_recipients"
        )
    campaign = campaign_open(**campaign_fields)
    campaign_add_recipients(campaign=campaign, recipients=recipients)
    return campaign


def campaign_open(
    *,
    tenant: Tenant,
    channel: str = Channel.SMS,
    sender_id: str = "",
    subject: str = "",
    body: str = "",
    name: str = "",
    origin: str = "api",
    created_by: User | None = None,
    scheduled_at: datetime | None = None,
    provider: str = "",
    provider_account: ProviderAccount | None = None,
) -> Campaign:
    """A new campaign with no messages yet: campaign_add_recipients fills and queues it."""
    if provider_account is not None and provider_account.tenant_id != tenant.pk:
        raise ApplicationError("Unknown provider account.", error_code="not_found", status_code=404)
    scheduled = scheduled_at is not None and scheduled_at > now()
    return Campaign.objects.create(
        tenant=tenant,
        created_by=created_by,
        name=name,
        origin=origin,
        channel=channel,
        provider=provider,
        provider_account=provider_account,
        sender_id=sender_id,
        subject=subject,
        body=body,
        status=CampaignStatus.SCHEDULED if scheduled else CampaignStatus.QUEUED,
        scheduled_at=scheduled_at if scheduled else None,
    )


@transaction.atomic
def campaign_add_recipients(
    *, campaign: Campaign, recipients: Iterable[Recipient]
) -> dict[str, str]:
    """Add a message per recipient not yet in the campaign and queue dispatch once the
    transaction commits. Returns the new messages' ids (canonical UUID text) by address;
    addresses the campaign already has (or that appear twice) are not in it.

    A finished campaign is opened again (a school adds late parents to yesterday's notice);
    a cancelled one refuses: it was stopped on purpose.
    """
    if campaign.status == CampaignStatus.CANCELLED:
        raise ApplicationError(
            "The campaign was cancelled; start a new one.", error_code="campaign_finished"
        )
    scheduled = campaign.status == CampaignStatus.SCHEDULED
    next_attempt_at = campaign.scheduled_at if scheduled else None
    copied = not campaign.total_messages and connection.vendor == "postgresql"
    if copied:
        # A campaign with no messages yet was created in this transaction (campaign_open), so
        # no other transaction can add to it: no conflicts are possible and COPY may be used.
        ids, total_segments = _copy_new_messages(
            campaign, recipients, next_attempt_at=next_attempt_at
        )
    else:
        ids, total_segments = _insert_new_messages(
            campaign, recipients, next_attempt_at=next_attempt_at
        )
    if not ids:
        return {}
    if copied:
        _count_new_campaign(campaign, len(ids), total_segments)
    else:
        _count_added_messages(campaign, len(ids), total_segments)
    if not scheduled:
        transaction.on_commit(lambda: _queue_dispatch(campaign.pk))
    return ids


def _campaign_gone() -> ApplicationError:
    # Messages carry no database constraint on their campaign (see Message.campaign): a
    # campaign deleted meanwhile (only ever with its tenant) takes this send with it.
    return ApplicationError("Campaign not found.", error_code="not_found", status_code=404)


def _count_new_campaign(campaign: Campaign, messages: int, segments: int) -> None:
    """A campaign just filled by COPY: its totals and counters are known, one UPDATE sets
    them and nothing is read back."""
    stamp = now()
    counters = {MessageStatus.QUEUED: messages}
    if not Campaign.objects.filter(pk=campaign.pk).update(
        total_messages=messages, total_segments=segments, counters=counters, counters_at=stamp
    ):
        raise _campaign_gone()
    campaign.total_messages, campaign.total_segments = messages, segments
    campaign.counters, campaign.counters_at = counters, stamp


def _count_added_messages(campaign: Campaign, messages: int, segments: int) -> None:
    """Add to totals other transactions may be adding to as well; the counters are counted
    again after the commit unless the campaign turns out to have only these messages."""
    counted = Campaign.objects.filter(pk=campaign.pk).update(
        total_messages=F("total_messages") + messages,
        total_segments=F("total_segments") + segments,
    )
    if not counted:
        raise _campaign_gone()
    if campaign.status in CAMPAIGN_FINISHED:  # completed or failed: cancelled refused above
        Campaign.objects.filter(pk=campaign.pk).update(
            status=CampaignStatus.QUEUED, completed_at=None
        )
    campaign.refresh_from_db()
    if campaign.total_messages == messages:
        # A new campaign: its counters are known without counting.
        Campaign.objects.filter(pk=campaign.pk).update(
            counters={MessageStatus.QUEUED: messages}, counters_at=now()
        )
    else:
        Campaign.objects.filter(pk=campaign.pk).update(counters_at=None)
        transaction.on_commit(lambda: campaign_refresh(campaign.pk))


def _insert_new_messages(
    campaign: Campaign, recipients: Iterable[Recipient], *, next_attempt_at: datetime | None
) -> tuple[dict[str, str], int]:
    """INSERT the messages of addresses the campaign does not have yet (the same address
    twice: the first one's). Returns {address: new message id} and their segments."""
    unique: dict[str, Recipient] = {}
    for recipient in recipients:
        unique.setdefault(recipient.to, recipient)
    if campaign.total_messages:
        for chunk in _chunks(list(unique), INSERT_BATCH):
            for existing in Message.objects.filter(campaign=campaign, to__in=chunk).values_list(
                "to", flat=True
            ):
                unique.pop(existing, None)
    if not unique:
        return {}, 0
    rows, _ = _message_rows(campaign, unique.values())
    inserted = _insert_messages(rows, next_attempt_at=next_attempt_at)
    ids = {row[4]: row[0] for row in rows if row[0] in inserted}  # to -> id
    return ids, sum(row[7] for row in rows if row[0] in inserted)


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


_MESSAGE_COLUMNS = (
    "id", "tenant_id", "campaign_id", "contact_id", "to", "subject", "body", "segments",
    "encoding", "cost",
)  # fmt: skip


def uuid7() -> uuid.UUID:
    """A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. Ids of
    messages written together sit together in the primary key's index, so a 10,000-message
    send appends to a few index pages instead of touching (and logging) thousands of random
    ones. Python 3.14 has uuid.uuid7(); 3.11 does not."""
    return uuid.UUID(uuid7_batch(1)[0])


def uuid7_batch(count: int) -> list[str]:
    """`count` UUIDv7s sharing one timestamp, as canonical strings (what the database and
    the API take; building uuid.UUID objects cost more than the rest of the id)."""
    stamp = f"{time.time_ns() // 1_000_000:012x}"
    head = f"{stamp[:8]}-{stamp[8:12]}-7"
    random = os.urandom(10 * count).hex()
    return [
        f"{head}{random[i : i + 3]}-{_VARIANT[random[i + 3]]}{random[i + 4 : i + 7]}-"
        f"{random[i + 7 : i + 19]}"
        for i in range(0, 20 * count, 20)
    ]


# The variant's two high bits are 10: the first hex digit of the fourth group is 8, 9, a or b.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def _segments(recipient: Recipient, *, sms: bool) -> tuple[int, str]:
    """A message's segments and encoding: as its caller counted them (a priced send), else
    counted here for SMS; an e-mail is one "segment"."""
    if recipient.segments:
        return recipient.segments, recipient.encoding
    if sms:
        count = count_segments(recipient.body)
        return count.segments, count.encoding
    return 1, "utf8"


def _message_rows(campaign: Campaign, recipients: Iterable[Recipient]) -> tuple[list, int]:
    """One tuple per message in _MESSAGE_COLUMNS order, and the segments they add up to."""
    rows = []
    total_segments = 0
    sms = campaign.channel == Channel.SMS
    tenant_id, campaign_id, subject = campaign.tenant_id, campaign.pk, campaign.subject
    recipients = list(recipients)
    ids = uuid7_batch(len(recipients))
    for message_id, recipient in zip(ids, recipients, strict=True):
        segments, encoding = _segments(recipient, sms=sms)
        total_segments += segments
        rows.append(
            (
                message_id,
                tenant_id,
                campaign_id,
                recipient.contact_id,
                recipient.to,
                recipient.subject or subject,
                recipient.body,
                segments,
                encoding,
                recipient.cost,
            )
        )
    return rows, total_segments


# Columns every new message gets the same value in, in the order both writers give them.
_FIXED_COLUMNS = (
    "status", "provider", "provider_message_id", "attempts", "next_attempt_at", "error_code",
    "error_message", "created_at", "updated_at",
)  # fmt: skip


def _row_fields() -> list:
    return [Message._meta.get_field(name.removesuffix("_id")) for name in _MESSAGE_COLUMNS]


def _fixed_fields() -> list:
    return [Message._meta.get_field(name) for name in _FIXED_COLUMNS]


def _column_list(fields: list) -> str:
    return ", ".join(connection.ops.quote_name(field.column) for field in fields)


NULL = "\\N"  # COPY's text format for NULL
# Text in COPY's text format: backslash, tab, newline and carriage return escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NEEDS_COPY_ESCAPE = re.compile(r"[\\\t\n\r]")


def _copy_text(value: str) -> str:
    """`value` in COPY's text format. Few texts hold a character to escape, and a regex search
    finds that out in a seventh of the time translate() takes to copy the text (translate
    with a table looks every character up in a dict: 30 of a 10,000-message send's ms)."""
    return value.translate(_COPY_ESCAPES) if _NEEDS_COPY_ESCAPE.search(value) else value


def _copy_escape_needed(chunk: list[tuple[str, Recipient]]) -> bool:
    """Whether any address, subject or body of the chunk holds a character COPY escapes.
    Three joins and four substring searches over the chunk cost a fifth of one regex search
    per text (the texts of a send almost never hold one)."""
    texts = "".join(
        (
            "".join([recipient.to for _, recipient in chunk]),
            "".join([recipient.subject for _, recipient in chunk]),
            "".join([recipient.body for _, recipient in chunk]),
        )
    )
    return "\\" in texts or "\t" in texts or "\n" in texts or "\r" in texts


COPY_CHUNK = 1000  # rows per write: the server inserts one chunk while the next is made


def _copy_new_messages(
    campaign: Campaign, recipients: Iterable[Recipient], *, next_attempt_at: datetime | None
) -> tuple[dict[str, str], int]:
    """Write a new campaign's messages with COPY (the same address twice: the first one's).
    Returns {address: message id} and the segments they add up to.

    The rows are formatted here as COPY's text (psycopg then sends bytes with no per-value
    adaptation: arrays of 10,000 rows' values cost ~0.5 s to adapt) and written a chunk at a
    time as `recipients` yields them. A caller that renders its recipients lazily (a bulk
    send) thus overlaps its own work with the server's inserting and index updates, on the
    machine's other core, instead of doing both one after the other."""
    # The other columns take the defaults the table has for COPY (migration delivery 0006):
    # queued, not attempted, created and due now, unless the campaign waits for its time.
    due_column, due_text = "", ""
    if next_attempt_at is not None:
        due_column = ", " + connection.ops.quote_name(
            Message._meta.get_field("next_attempt_at").column
        )
        due_text = f"\t{next_attempt_at.isoformat()}"
    ids: dict[str, str] = {}
    chunk: list[tuple[str, Recipient]] = []  # (message id, recipient)
    fresh_ids: list[str] = []
    lines = _CopyLines(campaign, due_text)
    sql = f"COPY {Message._meta.db_table} ({_column_list(_row_fields())}{due_column}) FROM STDIN"
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor, cursor.copy(sql) as copy:
        for recipient in recipients:
            if recipient.to in ids:
                continue
            if not fresh_ids:
                fresh_ids = uuid7_batch(COPY_CHUNK)
            ids[recipient.to] = message_id = fresh_ids.pop()
            chunk.append((message_id, recipient))
            if len(chunk) == COPY_CHUNK:
                copy.write(lines.of(chunk))
                chunk.clear()
        if chunk:
            copy.write(lines.of(chunk))
    return ids, lines.total_segments


class _CopyLines:
    """The COPY text of a campaign's chunks of new messages, and their segments so far."""

    def __init__(self, campaign: Campaign, due_text: str) -> None:
        self.sms = campaign.channel == Channel.SMS
        self.subject = campaign.subject
        self.campaign_columns = f"\t{campaign.tenant_id.hex}\t{campaign.pk.hex}\t"
        self.due_text = due_text
        self.total_segments = 0
        # A send's costs are a few Decimal objects shared by its recipients (one per
        # country and segment count): each formatted once, not once per row (~1 us each).
        self.cost_texts: dict[Decimal | None, str] = {None: NULL}

    def of(self, chunk: list[tuple[str, Recipient]]) -> str:
        sms, subject, campaign_columns, due_text = (
            self.sms, self.subject, self.campaign_columns, self.due_text
        )  # fmt: skip
        cost_texts = self.cost_texts
        if _copy_escape_needed(chunk) or _NEEDS_COPY_ESCAPE.search(subject):
            chunk = [(message_id, _copy_escaped(recipient, sms)) for message_id, recipient in chunk]
            subject = _copy_text(subject)
        lines = []
        total_segments = 0
        for message_id, recipient in chunk:
            segments, encoding = _segments(recipient, sms=sms)
            total_segments += segments
            contact_id, cost = recipient.contact_id, recipient.cost
            cost_text = cost_texts.get(cost) or cost_texts.setdefault(cost, str(cost))
            lines.append(
                f"{message_id}{campaign_columns}{contact_id.hex if contact_id else NULL}\t"
                f"{recipient.to}\t{recipient.subject or subject}\t{recipient.body}\t"
                f"{segments}\t{encoding}\t{cost_text}{due_text}\n"
            )
        self.total_segments += total_segments
        return "".join(lines)


def _copy_escaped(recipient: Recipient, sms: bool) -> Recipient:
    """A copy of `recipient` with its texts in COPY's format, counted before escaping."""
    segments, encoding = _segments(recipient, sms=sms)
    return replace(
        recipient,
        to=_copy_text(recipient.to),
        subject=_copy_text(recipient.subject),
        body=_copy_text(recipient.body),
        segments=segments,
        encoding=encoding,
    )


def _insert_messages(rows: list[tuple], *, next_attempt_at: datetime | None) -> set[str]:
    """Insert queued messages; returns the ids written (a row whose (campaign, to) exists is
    skipped). Django's bulk_create builds a model object and a parameter list per row: 10,000
    messages cost ~0.4 s of Python. On PostgreSQL the rows travel as one array per column
    (unnest), on SQLite through executemany, which loops in C."""
    stamp = now()
    table = Message._meta.db_table
    columns = _row_fields()
    names, fixed = _column_list(columns), _column_list(_fixed_fields())
    fixed_values = [MessageStatus.QUEUED, "", "", 0, next_attempt_at or stamp, "", "", stamp, stamp]
    if connection.vendor == "postgresql":
        casts = ", ".join(f"CAST(%s AS {field.db_type(connection)}[])" for field in columns)
        placeholders = ", ".join(["%s"] * len(fixed_values))
        sql = (
            f"INSERT INTO {table} ({names}, {fixed}) "  # noqa: S608 - names from the model
            f"SELECT *, {placeholders} FROM unnest({casts}) "
            "ON CONFLICT DO NOTHING RETURNING id"
        )
        inserted: set[str] = set()
        connection.ensure_connection()
        # Django's cursors bind parameters on the client, quoting every array element into
        # the SQL text (0.4 s for 10,000 rows); psycopg's own cursor sends them as parameters.
        with psycopg.Cursor(connection.connection) as cursor:
            for chunk in _chunks(rows, 20_000):
                cursor.execute(sql, [*fixed_values, *(list(c) for c in zip(*chunk, strict=True))])
                inserted.update(str(row[0]) for row in cursor.fetchall())
        return inserted
    prepared_fixed = [
        field.get_db_prep_save(value, connection)
        for field, value in zip(
            _fixed_fields(),
            fixed_values,
            strict=True,
        )
    ]
    cost_field = Message._meta.get_field("cost")
    sql = (
        f"INSERT OR IGNORE INTO {table} ({names}, {fixed}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * (len(columns) + len(prepared_fixed)))})"
    )
    params = [
        (
            row[0].replace("-", ""),
            row[1].hex,
            row[2].hex,
            row[3].hex if row[3] else None,
            *row[4:9],
            None if row[9] is None else cost_field.get_db_prep_save(row[9], connection),
            *prepared_fixed,
        )
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
    # SQLite runs one writer at a time (IMMEDIATE transactions): the existing addresses were
    # removed by the caller inside this transaction, so every row was written.
    return {row[0] for row in rows}


def campaign_counts(campaign_id: uuid.UUID) -> dict[str, int]:
    """Messages per status, read from the messages themselves: always exact."""
    rows = (
        Message.objects.filter(campaign_id=campaign_id)
        .values("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {row["status"]: row["n"] for row in rows}


def campaign_refresh(campaign_id: uuid.UUID) -> Campaign | None:
    """Store fresh counters; a sending campaign with nothing left to send is completed."""
    stamp = now()
    counts = campaign_counts(campaign_id)
    pending = sum(counts.get(status, 0) for status in MESSAGE_PENDING)
    Campaign.objects.filter(pk=campaign_id).update(counters=counts, counters_at=stamp)
    if pending == 0:
        Campaign.objects.filter(
            pk=campaign_id, status__in=[CampaignStatus.QUEUED, CampaignStatus.SENDING]
        ).update(status=CampaignStatus.COMPLETED, completed_at=stamp)
    return Campaign.objects.filter(pk=campaign_id).first()


@transaction.atomic
def campaign_cancel(*, campaign: Campaign) -> int:
    """Cancel what has not been sent. Messages already with the vendor finish normally."""
    if campaign.status in CAMPAIGN_FINISHED:
        raise ApplicationError(
            f"The campaign is already {campaign.status}.", error_code="campaign_finished"
        )
    cancelled = Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED).update(
        status=MessageStatus.CANCELLED, updated_at=now(), error_message="Cancelled"
    )
    Campaign.objects.filter(pk=campaign.pk).update(
        status=CampaignStatus.CANCELLED, completed_at=now()
    )
    transaction.on_commit(lambda: campaign_refresh(campaign.pk))
    return cancelled


@transaction.atomic
def campaign_retry(
    *, campaign: Campaign, statuses: Iterable[str] = (MessageStatus.FAILED, MessageStatus.UNKNOWN)
) -> int:
    """Send again to the recipients whose message failed or whose outcome is unknown — the
    user's explicit decision, since an unknown message may have arrived."""
    retried = Message.objects.filter(campaign=campaign, status__in=list(statuses)).update(
        status=MessageStatus.QUEUED,
        attempts=0,
        next_attempt_at=now(),
        lease_expires_at=None,
        request_sent_at=None,
        error_code="",
        error_message="",
        updated_at=now(),
    )
    if retried:
        Campaign.objects.filter(pk=campaign.pk).update(
            status=CampaignStatus.QUEUED, completed_at=None, pause_reason="", probe_at=None
        )
        transaction.on_commit(lambda: _queue_dispatch(campaign.pk))
    return retried


# --- the scheduler's work (each part safe when two schedulers run at once) -------------------


def release_due_campaigns(at: datetime | None = None) -> list[uuid.UUID]:
    at = at or now()
    released = []
    for campaign_id in Campaign.objects.filter(
        status=CampaignStatus.SCHEDULED, scheduled_at__lte=at
    ).values_list("pk", flat=True):
        # Conditional: of two schedulers, one wins the update and queues the dispatch.
        if Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.SCHEDULED).update(
            status=CampaignStatus.QUEUED
        ):
            Message.objects.filter(campaign_id=campaign_id, status=MessageStatus.QUEUED).update(
                next_attempt_at=at
            )
            released.append(campaign_id)
            _queue_dispatch(campaign_id)
    return released


def reclaim_expired_leases(at: datetime | None = None) -> set[uuid.UUID]:
    """Messages whose worker died: back to the queue if their request never left, `unknown`
    if it may have (never resent automatically: the user decides)."""
    at = at or now()
    expired = Message.objects.filter(status=MessageStatus.SENDING, lease_expires_at__lt=at)
    # Deduplicated here, not with DISTINCT: SQLite would scan message_claim for the DISTINCT
    # rather than search the few expired leases in message_lease.
    campaigns = set(expired.values_list("campaign_id", flat=True))
    expired.filter(request_sent_at__isnull=True).update(
        status=MessageStatus.QUEUED, lease_expires_at=None, next_attempt_at=at, updated_at=at
    )
    expired.filter(request_sent_at__isnull=False).update(
        status=MessageStatus.UNKNOWN,
        lease_expires_at=None,
        error_code="worker_lost",
        error_message="The worker stopped after the request was sent; it may have arrived.",
        updated_at=at,
    )
    for campaign_id in campaigns:
        campaign_refresh(campaign_id)
    return campaigns


def refresh_stale_counters() -> int:
    stale = Campaign.objects.filter(
        Q(reports_at__isnull=False)
        & (Q(counters_at__isnull=True) | Q(reports_at__gt=F("counters_at")))
    ).values_list("pk", flat=True)
    refreshed = 0
    for campaign_id in stale:
        campaign_refresh(campaign_id)
        refreshed += 1
    return refreshed


def apply_delivery_reports(
    *, provider: str, reports: Sequence[DeliveryReport], account: ProviderAccount | None
) -> int:
    """Move messages to delivered or failed. Unknown ids, duplicates and reports that arrive
    after a later state change nothing. A report only reaches messages sent through the
    account whose secret authenticated it."""
    stamp = now()
    applied = 0
    touched: set[uuid.UUID] = set()
    for report in reports:
        if report.status == DeliveryStatus.PENDING or not report.provider_message_id:
            continue
        messages = Message.objects.exclude(provider_message_id="").filter(  # message_vendor_id
            provider=provider,
            provider_message_id=report.provider_message_id,
            status__in=[MessageStatus.SENT, MessageStatus.SENDING, MessageStatus.UNKNOWN],
            campaign__provider_account=account,
        )
        campaign_ids = list(messages.values_list("campaign_id", flat=True))
        if report.status == DeliveryStatus.DELIVERED:
            changed = messages.update(
                status=MessageStatus.DELIVERED,
                delivered_at=report.occurred_at or stamp,
                error_code="",
                error_message="",
                updated_at=stamp,
            )
        else:
            changed = messages.update(
                status=MessageStatus.FAILED,
                error_code=(report.error_code or report.raw_status or "undelivered")[:50],
                error_message=(report.error_message or "The vendor reports it was not delivered")[
                    :500
                ],
                updated_at=stamp,
            )
        if changed:
            applied += changed
            touched.update(campaign_ids)
    if touched:
        Campaign.objects.filter(pk__in=touched).update(reports_at=stamp)
    return applied


def campaigns_needing_dispatch(at: datetime | None = None, idle_seconds: float | None = None):
    """Sending campaigns with messages due and no dispatch seen for a while (a lost task, or
    retries whose time has come)."""
    at = at or now()
    if idle_seconds is None:
        idle_seconds = settings.DELIVERY["idle_seconds"]
    # Per campaign, through message_claim (campaign, status, next_attempt_at): the campaigns
    # still sending are few, and an index of every queued message across campaigns would be
    # written for each of the millions of messages a platform queues, to serve this one query.
    due = Message.objects.filter(
        campaign=OuterRef("pk"), status=MessageStatus.QUEUED, next_attempt_at__lte=at
    )
    return Campaign.objects.filter(
        Q(status__in=[CampaignStatus.QUEUED, CampaignStatus.SENDING]),
        Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=at - timedelta(seconds=idle_seconds)),
        Exists(due),
    ).values_list("pk", flat=True)
