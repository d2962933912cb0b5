"""Accepting, cancelling and retrying campaigns, and the bookkeeping of message states.

Every later feature that sends (bulk send, uploads, school messages, the dashboard) calls
campaign_accept: one transaction writes the campaign and all its messages with bulk inserts,
and dispatch is queued only once that transaction has committed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
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


@dataclass(frozen=True)
class Recipient:
    """One rendered message for one address (E.164 for SMS, e-mail for e-mail)."""

    to: str
    body: str
    subject: str = ""
    contact_id: uuid.UUID | None = None


def _queue_dispatch(campaign_id: uuid.UUID) -> None:
    from mifumo.delivery.tasks import dispatch_campaign

    dispatch_campaign.delay(str(campaign_id))


@transaction.atomic
def campaign_accept(
    *,
    tenant: Tenant,
    recipients: Sequence[Recipient],
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
    """Write a campaign and one message per distinct recipient, then queue its dispatch.

    The same address twice is one message (the first one's text): the (campaign, to) unique
    constraint would refuse the second anyway, and nobody wants two copies.
    """
    unique: dict[str, Recipient] = {}
    for recipient in recipients:
        unique.setdefault(recipient.to, recipient)
    if not unique:
        raise ApplicationError(
            "A campaign needs at least one recipient.", error_code="no_recipients"
        )
    if provider_account is not None and provider_account.tenant_id != tenant.pk:
        raise ApplicationError("Unknown provider account.", error_code="not_found", status_code=404)
    scheduled = scheduled_at is not None and scheduled_at > now()
    campaign = Campaign.objects.create(
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
        scheduled_at=scheduled_at,
    )
    stamp = now()
    messages = []
    total_segments = 0
    for recipient in unique.values():
        if channel == Channel.SMS:
            count = count_segments(recipient.body)
            segments, encoding = count.segments, count.encoding
        else:
            segments, encoding = 1, "utf8"
        total_segments += segments
        messages.append(
            Message(
                tenant=tenant,
                campaign=campaign,
                contact_id=recipient.contact_id,
                to=recipient.to,
                subject=recipient.subject or subject,
                body=recipient.body,
                segments=segments,
                encoding=encoding,
                next_attempt_at=scheduled_at if scheduled else stamp,
                created_at=stamp,
                updated_at=stamp,
            )
        )
    Message.objects.bulk_create(messages, batch_size=INSERT_BATCH)
    campaign.total_messages = len(messages)
    campaign.total_segments = total_segments
    campaign.counters = {MessageStatus.QUEUED: len(messages)}
    campaign.save(update_fields=["total_messages", "total_segments", "counters"])
    if not scheduled:
        transaction.on_commit(lambda: _queue_dispatch(campaign.pk))
    return campaign


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
        messages = Message.objects.filter(
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
    due = Message.objects.filter(status=MessageStatus.QUEUED, next_attempt_at__lte=at).values(
        "campaign_id"
    )
    return Campaign.objects.filter(
        Q(status__in=[CampaignStatus.QUEUED, CampaignStatus.SENDING]),
        Q(pk__in=due),
        Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=at - timedelta(seconds=idle_seconds)),
    ).values_list("pk", flat=True)
