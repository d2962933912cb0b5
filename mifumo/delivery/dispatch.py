"""The engine's loop: claim -> check -> rate-limit -> send -> record.

A dispatch task works on one campaign for a bounded time, then re-queues itself behind other
campaigns' tasks, so campaigns and tenants sharing workers take turns. Messages are claimed
with a conditional UPDATE (queued -> sending, with a lease): a second copy of the task, from a
Celery redelivery or the scheduler, finds nothing to claim, so nobody gets a message twice.
"""

from __future__ import annotations

import logging
import math
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils.timezone import now

from mifumo.contacts.models import Contact
from mifumo.delivery import services
from mifumo.delivery.accounts import SendingAccount, sending_account
from mifumo.delivery.destinations import blocked_reason
from mifumo.delivery.models import (
    CAMPAIGN_FINISHED,
    Campaign,
    CampaignStatus,
    Channel,
    Message,
    MessageStatus,
)
from mifumo.delivery.providers.base import ErrorKind, OutgoingMessage, ProviderError, SendResult
from mifumo.observability import metrics

logger = logging.getLogger(__name__)


@dataclass
class DispatchOutcome:
    sent: int = 0
    failed: int = 0
    requeue_in: float | None = None  # seconds until the campaign has more to send


def _config(name: str):
    return settings.DELIVERY[name]


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """Capped exponential backoff with jitter; never sooner than the vendor's Retry-After."""
    base = min(
        _config("retry_base_seconds") * 2 ** max(0, attempt - 1), _config("retry_max_seconds")
    )
    jittered = base * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not security
    return max(jittered, retry_after or 0.0)


# --- state changes, each one statement over many messages -------------------------------------


def claim(campaign: Campaign, limit: int) -> list[Message]:
    stamp = now()
    lease = stamp + timedelta(seconds=_config("lease_seconds"))
    with transaction.atomic():
        # The rows are locked (PostgreSQL) or the database is (SQLite's IMMEDIATE transactions)
        # from this read to the commit, so what is read is what the UPDATE changes: the rows
        # are read once, with the lock, and given their new values here.
        claimed = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(campaign=campaign, status=MessageStatus.QUEUED, next_attempt_at__lte=stamp)
            # The message_claim index's order, so the scan stops after `limit` rows. (With id
            # as a tie-breaker, each claim read and sorted every due message of the campaign,
            # since a campaign's messages all fall due at the same moment: 45 ms at 50,000.)
            .order_by("next_attempt_at")[:limit]
        )
        if not claimed:
            return []
        updated = Message.objects.filter(id__in=_ids(claimed), status=MessageStatus.QUEUED).update(
            status=MessageStatus.SENDING,
            lease_expires_at=lease,
            request_sent_at=None,
            attempts=F("attempts") + 1,
            updated_at=stamp,
        )
    if updated != len(claimed):
        # Not expected while the rows are locked; if a database let another claim in between,
        # only the messages this claim moved (their lease is its own) are this task's to send.
        return list(
            Message.objects.filter(
                id__in=_ids(claimed), status=MessageStatus.SENDING, lease_expires_at=lease
            ).order_by("next_attempt_at")
        )
    for message in claimed:
        message.status = MessageStatus.SENDING
        message.lease_expires_at = lease
        message.request_sent_at = None
        message.attempts += 1
        message.updated_at = stamp
    return claimed


def _ids(messages: Sequence[Message]) -> list[uuid.UUID]:
    return [m.pk for m in messages]


def release(messages: Sequence[Message], delay: float, *, count_attempt: bool = True) -> None:
    """Back to the queue, due after `delay` seconds. A failure of the whole request (outage,
    429) does not count against the messages' own attempts."""
    stamp = now()
    changes = {
        "status": MessageStatus.QUEUED,
        "lease_expires_at": None,
        "request_sent_at": None,
        "next_attempt_at": stamp + timedelta(seconds=delay),
        "updated_at": stamp,
    }
    if not count_attempt:
        changes["attempts"] = F("attempts") - 1
    Message.objects.filter(id__in=_ids(messages), status=MessageStatus.SENDING).update(**changes)


def fail(messages: Sequence[Message], code: str, reason: str) -> None:
    Message.objects.filter(id__in=_ids(messages)).exclude(
        status__in=[MessageStatus.DELIVERED, MessageStatus.CANCELLED]
    ).update(
        status=MessageStatus.FAILED,
        lease_expires_at=None,
        error_code=code[:50],
        error_message=reason[:500],
        updated_at=now(),
    )


def mark_unknown(messages: Sequence[Message], code: str, reason: str) -> None:
    Message.objects.filter(id__in=_ids(messages), status=MessageStatus.SENDING).update(
        status=MessageStatus.UNKNOWN,
        lease_expires_at=None,
        error_code=code[:50],
        error_message=reason[:500],
        updated_at=now(),
    )


def record(
    messages: Sequence[Message], results: Sequence[SendResult], provider: str
) -> tuple[int, int]:
    """Write each message's outcome in one bulk UPDATE; opt out recipients the vendor says
    unsubscribed. Returns (accepted, refused)."""
    by_id = {str(m.pk): m for m in messages}
    stamp = now()
    accepted = refused = 0
    retry: list[Message] = []
    opted_out_contacts: list[uuid.UUID] = []
    # (id, status, provider_message_id or None to keep it, error_code, error_message, cost)
    outcomes: list[tuple] = []
    answered: set[str] = set()
    for result in results:
        message = by_id.get(result.message_id)
        if message is None:
            continue
        answered.add(result.message_id)
        code, reason = result.error_code[:50], result.error_message[:500]
        if result.accepted:
            accepted += 1
            pmid = result.provider_message_id[:100]
            outcomes.append((message.pk, MessageStatus.SENT, pmid, "", "", result.cost))
        elif result.unknown:
            # The vendor may have it (e.g. the connection broke mid-batch): never resent.
            code = code or "unknown"
            outcomes.append((message.pk, MessageStatus.UNKNOWN, None, code, reason, result.cost))
        elif result.retryable and message.attempts < _config("max_attempts"):
            retry.append(message)
        else:
            refused += 1
            outcomes.append((message.pk, MessageStatus.FAILED, None, code, reason, result.cost))
            if result.opted_out and message.contact_id:
                opted_out_contacts.append(message.contact_id)
    missing = [m for key, m in by_id.items() if key not in answered]
    with transaction.atomic():
        write_outcomes(outcomes, provider, stamp)
        if opted_out_contacts:
            Contact.objects.filter(pk__in=opted_out_contacts, opted_out_at__isnull=True).update(
                opted_out_at=stamp, opt_out_reason="The vendor reports the recipient unsubscribed"
            )
    metrics.count_messages(provider, [o[1] for o in outcomes] + ["retry"] * len(retry))
    for message in retry:
        release([message], backoff_seconds(message.attempts))
    if missing:
        # An adapter that returns fewer results than messages is a bug; the outcome of the
        # missing ones is not known.
        mark_unknown(missing, "no_result", "The adapter returned no result for this message.")
    return accepted, refused


_OUTCOME_COLUMNS = ("id", "status", "provider_message_id", "error_code", "error_message", "cost")
OUTCOME_CHUNK = 500  # messages per statement where each value is a parameter (SQLite)
# {rows} is a table of outcomes (columns as in _OUTCOME_COLUMNS) made of placeholders only;
# {table} is the model's table. Every value is a parameter.
_WRITE_OUTCOMES = """
WITH v (id, status, provider_message_id, error_code, error_message, cost) AS ({rows})
UPDATE {table} SET
    status = v.status,
    provider = %s,
    provider_message_id = COALESCE(v.provider_message_id, {table}.provider_message_id),
    error_code = v.error_code,
    error_message = v.error_message,
    cost = v.cost,
    lease_expires_at = NULL,
    updated_at = %s,
    sent_at = CASE WHEN v.status = %s THEN %s ELSE {table}.sent_at END
FROM v WHERE {table}.id = v.id{condition}
"""


def write_outcomes(outcomes: Sequence[tuple], provider: str, stamp) -> None:
    """Each message's outcome in one statement: UPDATE ... FROM a table of the outcomes
    joined on the primary key. `sent_at` is set on messages that were sent and kept on the
    others; a None provider_message_id keeps the message's own.

    Django's bulk_update builds a CASE WHEN per row and field: 500 messages cost ~0.6 s of the
    worker's CPU, 90% of a dispatch batch. On PostgreSQL the outcomes travel as one array per
    column (unnest), seven parameters whatever the batch size; elsewhere (SQLite >= 3.33) as
    a VALUES list, 500 rows per statement.
    """
    if not outcomes:
        return
    fields = [Message._meta.get_field(name) for name in _OUTCOME_COLUMNS]
    table = Message._meta.db_table
    stamp = Message._meta.get_field("sent_at").get_db_prep_save(stamp, connection)
    common = [provider, stamp, MessageStatus.SENT, stamp]
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"CAST(%s AS {f.db_type(connection)}[])" for f in fields)
        sql = _WRITE_OUTCOMES.format(
            rows=f"SELECT * FROM unnest({arrays})",  # noqa: S608 - placeholders and types
            table=table,
            # The ids again, as a condition on the table: the planner then reaches the rows
            # through the primary key whatever its statistics say. (It joined 200 outcomes to
            # a fresh 20,000-message table it thought small with a hash over every row: 20 ms.)
            condition=f" AND {table}.id = ANY(CAST(%s AS uuid[]))",
        )
        columns = [list(column) for column in zip(*outcomes, strict=True)]
        with connection.cursor() as cursor:
            cursor.execute(sql, [*columns, *common, columns[0]])
        return
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(outcomes), OUTCOME_CHUNK):
            chunk = outcomes[start : start + OUTCOME_CHUNK]
            params = [
                f.get_db_prep_save(value, connection)
                for outcome in chunk
                for f, value in zip(fields, outcome, strict=True)
            ]
            values = "VALUES " + ", ".join([row] * len(chunk))
            sql = _WRITE_OUTCOMES.format(rows=values, table=table, condition="")
            cursor.execute(sql, [*params, *common])


# --- checks before anything reaches a vendor ---------------------------------------------------


def refuse_undeliverable(campaign: Campaign, messages: list[Message]) -> list[Message]:
    """Fail messages to opted-out contacts or blocked destinations; return the rest."""
    opted_out = set(
        Contact.objects.filter(
            pk__in=[m.contact_id for m in messages if m.contact_id], opted_out_at__isnull=False
        ).values_list("pk", flat=True)
    )
    allowed = campaign.tenant.allowed_regions
    sendable = []
    for message in messages:
        if message.contact_id in opted_out:
            fail([message], "opted_out", "The recipient has opted out of messages.")
        elif campaign.channel == Channel.SMS and (reason := blocked_reason(message.to, allowed)):
            fail([message], "blocked_destination", f"Not sent: the number is {reason}.")
        else:
            sendable.append(message)
    return sendable


# --- the loop -------------------------------------------------------------------------------


def _requests(messages: list[Message], account: SendingAccount) -> list[list[Message]]:
    """Split messages into vendor requests: the same text and sender, at most the vendor's
    recipients per request, and, under a low rate limit, few enough that one request is not a
    burst (one request per 1/60 of the per-minute limit)."""
    per_request = _recipients_per_request(account)
    groups: dict[tuple[str, str], list[Message]] = {}
    for message in messages:
        groups.setdefault((message.body, message.subject), []).append(message)
    requests = []
    for same_text in groups.values():
        for start in range(0, len(same_text), per_request):
            requests.append(same_text[start : start + per_request])
    return requests


def _recipients_per_request(account: SendingAccount) -> int:
    per_request = account.provider.max_recipients_per_request
    if account.limiter is not None:
        per_request = max(1, min(per_request, int(account.limiter.limit.per_minute // 60)))
    return per_request


def _outgoing(campaign: Campaign, account: SendingAccount, message: Message) -> OutgoingMessage:
    return OutgoingMessage(
        message_id=str(message.pk),
        to=message.to,
        body=message.body,
        sender=campaign.sender_id or account.provider.account.sender_id,
        subject=message.subject,
        segments=message.segments,
        encoding=message.encoding,
    )


def pause(campaign: Campaign, reason: str) -> None:
    stamp = now()
    Campaign.objects.filter(
        pk=campaign.pk, status__in=[CampaignStatus.QUEUED, CampaignStatus.SENDING]
    ).update(
        status=CampaignStatus.PAUSED,
        pause_reason=reason[:300],
        probe_at=stamp + timedelta(seconds=_config("probe_interval_seconds")),
    )
    logger.warning("Campaign %s paused: %s", campaign.pk, reason)


def _send_request(campaign: Campaign, account: SendingAccount, batch: list[Message]) -> str:
    """Send one vendor request. Returns "ok", "retry" or "pause"."""
    Message.objects.filter(id__in=_ids(batch)).update(request_sent_at=now())
    started = time.perf_counter()
    try:
        results = account.provider.send([_outgoing(campaign, account, m) for m in batch])
    except ProviderError as error:
        seconds = time.perf_counter() - started
        metrics.vendor_request(account.provider.name, seconds, error, messages=len(batch))
        return _request_failed(campaign, batch, error, account.provider.name)
    metrics.vendor_request(account.provider.name, time.perf_counter() - started)
    record(batch, results, account.provider.name)
    # Conditional: after a success the row is usually at 0 already and is not written again.
    Campaign.objects.filter(pk=campaign.pk, consecutive_failures__gt=0).update(
        consecutive_failures=0
    )
    return "ok"


def _request_failed(
    campaign: Campaign, batch: list[Message], error: ProviderError, provider: str
) -> str:
    reason = f"{provider}: {error.message}"
    if error.kind == ErrorKind.UNKNOWN:
        mark_unknown(batch, error.code or "unknown", error.message)
        return "ok"
    if error.kind == ErrorKind.PERMANENT:
        fail(batch, error.code or "refused", error.message)
        return "ok"
    if error.kind == ErrorKind.ACCOUNT:
        release(batch, 0, count_attempt=False)
        return fail_over_or_pause(campaign, reason)
    # Transient: the request was not accepted. Retry later; a run of them pauses the campaign
    # (an outage) rather than spending every message's attempts.
    failures = Campaign.objects.filter(pk=campaign.pk)
    failures.update(consecutive_failures=F("consecutive_failures") + 1)
    count = failures.values_list("consecutive_failures", flat=True).first() or 0
    attempt = max(m.attempts for m in batch)
    release(batch, backoff_seconds(attempt, error.retry_after), count_attempt=False)
    if count >= _config("pause_after_failures"):
        return fail_over_or_pause(campaign, f"{reason} ({count} failed requests in a row)")
    return "retry"


def fail_over_or_pause(campaign: Campaign, reason: str) -> str:
    """Move the campaign to its account's fallback when it has one ("switch"), else pause it
    ("pause"). The campaign stays on the fallback for the rest of its run."""
    account = campaign.provider_account
    if account is not None and account.fallback_id and account.fallback_id != account.pk:
        switched = Campaign.objects.filter(pk=campaign.pk, provider_account_id=account.pk).update(
            provider_account_id=account.fallback_id, consecutive_failures=0
        )
        if switched:
            logger.warning("Campaign %s moved to its fallback account: %s", campaign.pk, reason)
            return "switch"
    pause(campaign, reason)
    return "pause"


def dispatch(campaign_id: uuid.UUID | str, *, time_budget: float | None = None) -> DispatchOutcome:
    """Send a campaign's due messages for at most `time_budget` seconds."""
    outcome = DispatchOutcome()
    campaign = (
        Campaign.objects.select_related("tenant", "provider_account").filter(pk=campaign_id).first()
    )
    if campaign is None or campaign.status not in {CampaignStatus.QUEUED, CampaignStatus.SENDING}:
        return outcome
    stamp = now()
    Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.QUEUED).update(
        status=CampaignStatus.SENDING, started_at=stamp
    )
    Campaign.objects.filter(pk=campaign.pk).update(dispatched_at=stamp)
    try:
        account = sending_account(campaign)
    except (KeyError, ValueError) as error:
        pause(campaign, f"The provider cannot be used: {error}")
        return outcome
    deadline = time.monotonic() + (time_budget or _config("task_time_budget"))
    while time.monotonic() < deadline:
        claimed = claim(campaign, _claim_size(account, deadline - time.monotonic()))
        if not claimed:
            break
        sendable = refuse_undeliverable(campaign, claimed)
        outcome.failed += len(claimed) - len(sendable)
        metrics.count_messages(account.provider.name, ["failed"] * (len(claimed) - len(sendable)))
        requests = _requests(sendable, account)
        for index, batch in enumerate(requests):
            wait = 0.0
            if account.limiter is not None:
                tokens = sum(
                    m.segments if account.provider.rate_counts_segments else 1 for m in batch
                )
                reservation = account.limiter.reserve(
                    tokens, max_wait=max(0.0, deadline - time.monotonic())
                )
                if not reservation.granted:
                    # Not this task's turn for a while: hand the rest back and come back a
                    # little before the turn, so the next task is ready when it comes (a
                    # slot that passes unused is lost: the limiter never lets a late sender
                    # catch up in a burst).
                    resume_in = max(0.0, reservation.wait_seconds - RESUME_LEAD_SECONDS)
                    unsent = [message for rest in requests[index:] for message in rest]
                    release(unsent, resume_in, count_attempt=False)
                    outcome.requeue_in = resume_in
                    services.campaign_refresh(campaign.pk)
                    return outcome
                wait = reservation.wait_seconds
            if wait > 0:
                time.sleep(wait)
            if _stopped(campaign, requests[index:]):
                return outcome
            result = _send_request(campaign, account, batch)
            if result in {"pause", "switch"}:
                for rest in requests[index + 1 :]:
                    release(rest, 0, count_attempt=False)
                services.campaign_refresh(campaign.pk)
                if result == "switch":
                    outcome.requeue_in = 0.0  # again at once, through the fallback account
                return outcome
            outcome.sent += len(batch)
        sending = Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.SENDING)
        if not sending.update(dispatched_at=now()):
            break  # cancelled or paused meanwhile
    refreshed = services.campaign_refresh(campaign.pk)
    if refreshed is not None and refreshed.status == CampaignStatus.SENDING:
        outcome.requeue_in = _next_due_in(campaign)
    # Ids and counts only: never a body or an address (the log may be read by anyone on call).
    logger.info(
        "Dispatched campaign %s: %d sent, %d failed before sending",
        campaign.pk,
        outcome.sent,
        outcome.failed,
    )
    return outcome


def _stopped(campaign: Campaign, unsent_requests: list[list[Message]]) -> bool:
    """Whether the campaign was cancelled (or paused) since these messages were claimed: then
    none of them is sent. Asked before every vendor request, since under a rate limit a claim
    holds many seconds of requests: a cancel must stop the next one, not the next claim."""
    status = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).first()
    if status in {CampaignStatus.QUEUED, CampaignStatus.SENDING}:
        return False
    unsent = [message for request in unsent_requests for message in request]
    release(unsent, 0, count_attempt=False)
    if status is None or status in CAMPAIGN_FINISHED:
        Message.objects.filter(id__in=_ids(unsent), status=MessageStatus.QUEUED).update(
            status=MessageStatus.CANCELLED, error_message="Cancelled", updated_at=now()
        )
    services.campaign_refresh(campaign.pk)
    return True


# A task that stops for its time budget under a rate limit is queued again this much before
# its campaign's next turn at the limiter.
RESUME_LEAD_SECONDS = 1.0


def _claim_size(account: SendingAccount, seconds: float) -> int:
    """A batch, or under a rate limit no more than the limiter lets through in `seconds` (and
    one request more): claiming more would only hand most of them back."""
    size = _config("batch_size")
    if account.limiter is None:
        return size
    per_second = account.limiter.limit.per_minute / 60
    return max(1, min(size, math.ceil(per_second * seconds) + _recipients_per_request(account)))


def _next_due_in(campaign: Campaign) -> float | None:
    next_due = (
        Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if next_due is None:
        return None
    return max(0.0, (next_due - now()).total_seconds())
