"""The engine's loop: claim -> check -> rate-limit -> send -> record.

A dispatch task works on one campaign for a bounded time, then re-queues itself behind other
campaigns' tasks, so campaigns and tenants sharing workers take turns. Messages are claimed
with a conditional UPDATE (queued -> sending, with a lease): a second copy of the task, from a
Celery redelivery or the scheduler, finds nothing to claim, so nobody gets a message twice.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils.timezone import now

from mifumo.contacts.models import Contact
from mifumo.delivery import services
from mifumo.delivery.accounts import SendingAccount, sending_account
from mifumo.delivery.destinations import blocked_reason
from mifumo.delivery.models import Campaign, CampaignStatus, Channel, Message, MessageStatus
from mifumo.delivery.providers.base import ErrorKind, OutgoingMessage, ProviderError, SendResult

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
    with transaction.atomic():
        due = (
            Message.objects.select_for_update(skip_locked=True)
            .filter(campaign=campaign, status=MessageStatus.QUEUED, next_attempt_at__lte=stamp)
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[:limit]
        )
        ids = list(due)
        if not ids:
            return []
        Message.objects.filter(id__in=ids, status=MessageStatus.QUEUED).update(
            status=MessageStatus.SENDING,
            lease_expires_at=stamp + timedelta(seconds=_config("lease_seconds")),
            request_sent_at=None,
            attempts=F("attempts") + 1,
            updated_at=stamp,
        )
    return list(
        Message.objects.filter(id__in=ids, status=MessageStatus.SENDING).order_by(
            "next_attempt_at", "id"
        )
    )


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
    changed: list[Message] = []
    for result in results:
        message = by_id.get(result.message_id)
        if message is None:
            continue
        message.provider = provider
        message.lease_expires_at = None
        message.updated_at = stamp
        message.cost = result.cost
        if result.accepted:
            accepted += 1
            message.status = MessageStatus.SENT
            message.provider_message_id = result.provider_message_id[:100]
            message.sent_at = stamp
            message.error_code = message.error_message = ""
        elif result.unknown:
            # The vendor may have it (e.g. the connection broke mid-batch): never resent.
            message.status = MessageStatus.UNKNOWN
            message.error_code = (result.error_code or "unknown")[:50]
            message.error_message = result.error_message[:500]
        elif result.retryable and message.attempts < _config("max_attempts"):
            retry.append(message)
            continue
        else:
            refused += 1
            message.status = MessageStatus.FAILED
            message.error_code = result.error_code[:50]
            message.error_message = result.error_message[:500]
            if result.opted_out and message.contact_id:
                opted_out_contacts.append(message.contact_id)
        changed.append(message)
    missing = [m for key, m in by_id.items() if key not in {r.message_id for r in results}]
    with transaction.atomic():
        Message.objects.bulk_update(
            changed,
            [
                "status",
                "provider",
                "provider_message_id",
                "sent_at",
                "error_code",
                "error_message",
                "cost",
                "lease_expires_at",
                "updated_at",
            ],
            batch_size=500,
        )
        if opted_out_contacts:
            Contact.objects.filter(pk__in=opted_out_contacts, opted_out_at__isnull=True).update(
                opted_out_at=stamp, opt_out_reason="The vendor reports the recipient unsubscribed"
            )
    for message in retry:
        release([message], backoff_seconds(message.attempts))
    if missing:
        # An adapter that returns fewer results than messages is a bug; the outcome of the
        # missing ones is not known.
        mark_unknown(missing, "no_result", "The adapter returned no result for this message.")
    return accepted, refused


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
    per_request = account.provider.max_recipients_per_request
    if account.limiter is not None:
        per_request = max(1, min(per_request, int(account.limiter.limit.per_minute // 60)))
    groups: dict[tuple[str, str], list[Message]] = {}
    for message in messages:
        groups.setdefault((message.body, message.subject), []).append(message)
    requests = []
    for same_text in groups.values():
        for start in range(0, len(same_text), per_request):
            requests.append(same_text[start : start + per_request])
    return requests


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
    try:
        results = account.provider.send([_outgoing(campaign, account, m) for m in batch])
    except ProviderError as error:
        return _request_failed(campaign, batch, error, account.provider.name)
    record(batch, results, account.provider.name)
    Campaign.objects.filter(pk=campaign.pk).update(consecutive_failures=0)
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
        claimed = claim(campaign, _config("batch_size"))
        if not claimed:
            break
        sendable = refuse_undeliverable(campaign, claimed)
        outcome.failed += len(claimed) - len(sendable)
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
                    # Not this task's turn for a while: hand the rest back and come back later.
                    for rest in requests[index:]:
                        release(rest, reservation.wait_seconds, count_attempt=False)
                    outcome.requeue_in = reservation.wait_seconds
                    services.campaign_refresh(campaign.pk)
                    return outcome
                wait = reservation.wait_seconds
            if wait > 0:
                time.sleep(wait)
            result = _send_request(campaign, account, batch)
            if result in {"pause", "switch"}:
                for rest in requests[index + 1 :]:
                    release(rest, 0, count_attempt=False)
                services.campaign_refresh(campaign.pk)
                if result == "switch":
                    outcome.requeue_in = 0.0  # again at once, through the fallback account
                return outcome
            outcome.sent += len(batch)
        Campaign.objects.filter(pk=campaign.pk).update(dispatched_at=now())
        if not Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.SENDING).exists():
            break  # cancelled or paused meanwhile
    refreshed = services.campaign_refresh(campaign.pk)
    if refreshed is not None and refreshed.status == CampaignStatus.SENDING:
        outcome.requeue_in = _next_due_in(campaign)
    return outcome


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
