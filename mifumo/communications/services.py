"""Creating, editing, cancelling and deleting school bulk messages, and following their
campaigns.

Each BulkMessage is sent as one delivery Campaign (origin "communications"): SMS through the
tenant's own default SMS account when it has one, else the platform's SMS_PROVIDER (Arkesel
for the app this spec comes from: SMS_PROVIDER=arkesel, ARKESEL_RATE_LIMIT=100/m); e-mail
through the tenant's default SMTP account, else EMAIL_URL. The engine paces, sends, retries
and records; this module only decides what to send and reads back how it went.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils.timezone import now

from mifumo.communications.models import BulkMessage, BulkMessageStatus, DeliveryMethod
from mifumo.communications.recipients import Audience, audience_resolve
from mifumo.delivery import services as delivery
from mifumo.delivery.accounts import default_provider_for, platform_account
from mifumo.delivery.models import (
    CAMPAIGN_FINISHED,
    Campaign,
    CampaignStatus,
    Channel,
    MessageStatus,
    ProviderAccount,
)
from mifumo.delivery.segments import count_segments
from mifumo.messaging import pricing
from mifumo.messaging.services import billing
from mifumo.tenancy import audit
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.models import AuditAction, Tenant, User

ORIGIN = "communications"
# What PATCH may change while the message has not been dispatched.
EDITABLE_FIELDS = (
    "recipient_group",
    "custom_recipients",
    "subject",
    "message_body",
    "delivery_method",
    "scheduled_time",
)
SENT_STATUSES = (MessageStatus.SENT, MessageStatus.DELIVERED)
# Final without having been sent (unknown: the vendor may have it, but nobody can say).
NOT_SENT_STATUSES = (MessageStatus.FAILED, MessageStatus.CANCELLED, MessageStatus.UNKNOWN)


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError(message, error_code="validation_error", details={field: [message]})


def _check_content(fields: dict) -> None:
    if not fields["message_body"].strip():
        raise _invalid("message_body", "The message body is empty.")
    if fields["delivery_method"] == DeliveryMethod.EMAIL and not fields["subject"].strip():
        raise _invalid("subject", "An e-mail needs a subject.")
    if not fields["recipient_group"].strip() and not fields["custom_recipients"].strip():
        raise _invalid(
            "recipient_group", "Choose a recipient_group or give custom_recipients (or both)."
        )


def _audience(tenant: Tenant, fields: dict) -> Audience:
    audience = audience_resolve(
        tenant=tenant,
        delivery_method=fields["delivery_method"],
        recipient_group=fields["recipient_group"],
        custom_recipients=fields["custom_recipients"],
    )
    if not audience.addresses:
        need = (
            "an e-mail address" if fields["delivery_method"] == DeliveryMethod.EMAIL else "a phone"
        )
        if audience.skipped_count:
            message = (
                f"Nobody to send to: none of the {audience.skipped_count} recipients can get it "
                f"(each needs {need} and must not have opted out)."
            )
        else:
            message = "Nobody to send to: the recipient group has no members."
        raise ApplicationError(
            message,
            error_code="no_recipients",
            details={
                "skipped_count": audience.skipped_count,
                "skipped_recipients": audience.skipped,
            },
        )
    return audience


def _default_account(tenant: Tenant, channel: str) -> ProviderAccount | None:
    """The tenant's own default account for this channel, if it has one."""
    accounts = ProviderAccount.objects.filter(tenant=tenant, is_default=True)
    if channel == Channel.EMAIL:
        accounts = accounts.filter(provider="smtp")
    else:
        accounts = accounts.exclude(provider="smtp")
    return accounts.order_by("created_at").first()


def _sender(tenant: Tenant, channel: str, account: ProviderAccount | None) -> str:
    if account is not None and account.sender_id:
        return account.sender_id
    if channel == Channel.EMAIL:
        # From: the school's name, at the platform's address.
        return formataddr((tenant.name, parseaddr(settings.DEFAULT_FROM_EMAIL)[1]))
    return platform_account(default_provider_for(channel)).sender_id


def _campaign_open(
    *, tenant: Tenant, created_by: User | None, fields: dict, audience: Audience
) -> Campaign:
    """The campaign that sends the message, with its messages (in the caller's transaction:
    dispatch is queued when it commits, or released by the scheduler at scheduled_time)."""
    channel = Channel.EMAIL if fields["delivery_method"] == DeliveryMethod.EMAIL else Channel.SMS
    body = fields["message_body"]
    subject = fields["subject"] if channel == Channel.EMAIL else ""
    account = _default_account(tenant, channel)
    campaign = delivery.campaign_open(
        tenant=tenant,
        created_by=created_by,
        channel=channel,
        sender_id=_sender(tenant, channel, account),
        subject=subject,
        body=body,
        name=f"School message: {(subject or body)[:80]}",
        origin=ORIGIN,
        scheduled_at=fields["scheduled_time"],
        provider_account=account,
    )
    charge = channel == Channel.SMS and billing.billing_enabled()
    segments = count_segments(body) if channel == Channel.SMS else None
    recipients = [
        delivery.Recipient(
            to=address,
            body=body,
            subject=subject,
            contact_id=contact_id,
            cost=pricing.message_cost(address, segments.segments) if charge else None,
            segments=segments.segments if segments else 0,
            encoding=segments.encoding if segments else "",
        )
        for address, contact_id in audience.addresses
    ]
    delivery.campaign_add_recipients(campaign=campaign, recipients=recipients)
    if charge:
        cost = sum((r.cost for r in recipients), Decimal("0"))
        billing.credit_reserve(tenant=tenant, campaign=campaign, cost=cost, created_by=created_by)
    campaign.refresh_from_db()
    return campaign


def _take_audience(bulk: BulkMessage, campaign: Campaign, audience: Audience) -> None:
    bulk.campaign = campaign
    bulk.total_recipients = campaign.total_messages
    bulk.sent_count = bulk.failed_count = 0
    bulk.skipped_count = audience.skipped_count
    bulk.skipped_recipients = audience.skipped
    bulk.counts_at = campaign.counters_at


def bulk_message_create(
    *,
    tenant: Tenant,
    created_by: User | None,
    delivery_method: str,
    message_body: str,
    subject: str = "",
    recipient_group: str = "",
    custom_recipients: str = "",
    scheduled_time: datetime | None = None,
) -> BulkMessage:
    fields = {
        "delivery_method": delivery_method,
        "message_body": message_body,
        "subject": subject or "",
        "recipient_group": " ".join((recipient_group or "").split()),
        "custom_recipients": custom_recipients or "",
        "scheduled_time": scheduled_time,
    }
    with audit.operation(
        tenant=tenant, action=AuditAction.BULK_MESSAGE_CREATE, user=created_by
    ) as op:
        _check_content(fields)
        audience = _audience(tenant, fields)
        campaign = _campaign_open(
            tenant=tenant, created_by=created_by, fields=fields, audience=audience
        )
        bulk = BulkMessage(tenant=tenant, created_by=created_by, **fields)
        _take_audience(bulk, campaign, audience)
        bulk.save()
        op.add_ids([bulk.pk, campaign.pk])
        op.counts = {"recipients": bulk.total_recipients, "skipped": bulk.skipped_count}
    return bulk


def _not_dispatched(campaign: Campaign) -> bool:
    """Nothing of it has been claimed by a worker: scheduled, or queued and never started
    (dispatch sets started_at as it takes the campaign from queued to sending)."""
    return campaign.status == CampaignStatus.SCHEDULED or (
        campaign.status == CampaignStatus.QUEUED and campaign.started_at is None
    )


def _locked(bulk: BulkMessage) -> tuple[BulkMessage, Campaign]:
    """The message and its campaign, locked and up to date. The campaign row's lock makes a
    worker's queued -> sending (and the scheduler's scheduled -> queued) wait for us."""
    bulk = BulkMessage.objects.select_for_update().get(pk=bulk.pk)
    campaign = Campaign.objects.select_for_update().get(pk=bulk.campaign_id)
    if _follow(bulk, campaign):
        bulk.save()
    return bulk, campaign


@transaction.atomic
def bulk_message_update(*, bulk: BulkMessage, **changes) -> BulkMessage:
    """PATCH: {"status": "Failed"} cancels; content, recipients and schedule may change while
    the message is Pending and not yet dispatched. The new version gets a new campaign and the
    old one is cancelled (nothing of it had been sent)."""
    bulk, campaign = _locked(bulk)
    status = changes.pop("status", None)
    content = {name: value for name, value in changes.items() if name in EDITABLE_FIELDS}
    if status is not None and status != bulk.status:
        if content:
            raise _invalid("status", "Change the status alone, without other fields.")
        if status == BulkMessageStatus.FAILED:
            bulk = _cancel(bulk, campaign)
            audit.record(
                tenant=bulk.tenant,
                action=AuditAction.BULK_MESSAGE_CANCEL,
                object_ids=[bulk.pk],
                counts={"recipients": bulk.total_recipients, "sent": bulk.sent_count},
            )
            return bulk
        raise _invalid("status", _why_not(bulk.status, status))
    if not content:
        return bulk
    if bulk.status != BulkMessageStatus.PENDING or not _not_dispatched(campaign):
        raise ApplicationError(
            "The message is already being sent (or has been): its content and schedule can "
            'no longer change. PATCH {"status": "Failed"} stops what has not been sent.',
            error_code="not_editable",
        )
    fields = {name: getattr(bulk, name) for name in EDITABLE_FIELDS}
    fields.update({name: value if value is not None else "" for name, value in content.items()})
    fields["scheduled_time"] = content.get("scheduled_time", bulk.scheduled_time)
    fields["recipient_group"] = " ".join(fields["recipient_group"].split())
    _check_content(fields)
    audience = _audience(bulk.tenant, fields)
    delivery.campaign_cancel(campaign=campaign)
    new_campaign = _campaign_open(
        tenant=bulk.tenant, created_by=bulk.created_by, fields=fields, audience=audience
    )
    for name, value in fields.items():
        setattr(bulk, name, value)
    _take_audience(bulk, new_campaign, audience)
    bulk.updated_at = now()
    bulk.save()
    return bulk


def _why_not(current: str, wanted: str) -> str:
    if current == BulkMessageStatus.FAILED:
        return (
            f"The message is {current}: it cannot become {wanted}. Create a new bulk message "
            "to send it again."
        )
    if current == BulkMessageStatus.SENT:
        return f"The message has been sent: it cannot become {wanted}."
    return (
        f"A message becomes {wanted} by itself when every recipient's message has a final "
        'outcome; the only status you may set is "Failed", which cancels what has not been '
        "sent."
    )


def _cancel(bulk: BulkMessage, campaign: Campaign) -> BulkMessage:
    if bulk.status == BulkMessageStatus.SENT:
        raise _invalid("status", _why_not(bulk.status, BulkMessageStatus.FAILED))
    if campaign.status not in CAMPAIGN_FINISHED:
        delivery.campaign_cancel(campaign=campaign)
    stamp = now()
    bulk.cancelled_at = bulk.updated_at = stamp
    bulk.status = BulkMessageStatus.FAILED
    bulk.sent_time = bulk.sent_time or stamp
    _copy_counts(bulk, delivery.campaign_counts(campaign.pk))
    bulk.save()
    return bulk


def bulk_message_cancel(*, bulk: BulkMessage) -> BulkMessage:
    with audit.operation(
        tenant=bulk.tenant, action=AuditAction.BULK_MESSAGE_CANCEL, object_ids=[bulk.pk]
    ) as op:
        bulk, campaign = _locked(bulk)
        if bulk.status != BulkMessageStatus.FAILED:
            bulk = _cancel(bulk, campaign)
        op.counts = {"recipients": bulk.total_recipients, "sent": bulk.sent_count}
    return bulk


def bulk_message_delete(*, bulk: BulkMessage) -> None:
    """Cancel whatever has not been sent, then forget the message. The campaign stays (with
    its messages: what was sent, and what was cancelled) under /api/messaging/campaigns/."""
    with audit.operation(
        tenant=bulk.tenant, action=AuditAction.BULK_MESSAGE_DELETE, object_ids=[bulk.pk]
    ) as op:
        bulk, campaign = _locked(bulk)
        op.add_ids([campaign.pk])
        cancelled = 0
        if campaign.status not in CAMPAIGN_FINISHED:
            cancelled = delivery.campaign_cancel(campaign=campaign)
        op.counts = {"recipients": bulk.total_recipients, "cancelled": cancelled}
        bulk.delete()


# --- following the campaign ---------------------------------------------------------------------


def _copy_counts(bulk: BulkMessage, counts: dict[str, int]) -> None:
    bulk.sent_count = sum(counts.get(status, 0) for status in SENT_STATUSES)
    bulk.failed_count = sum(counts.get(status, 0) for status in NOT_SENT_STATUSES)


_FOLLOWED = ("status", "sent_time", "sent_count", "failed_count", "counts_at")


def _follow(bulk: BulkMessage, campaign: Campaign) -> bool:
    """Bring status, sent_time and counts up to the campaign's state; True if any changed.

    While the campaign sends, the counts are its counters (the engine refreshes them after
    every dispatch round); when it has finished they are counted once from the messages,
    exactly; delivery reports arriving later are copied from the refreshed counters."""
    before = tuple(getattr(bulk, name) for name in _FOLLOWED)
    finished = campaign.status in CAMPAIGN_FINISHED
    if finished and bulk.status == BulkMessageStatus.PENDING:
        _copy_counts(bulk, delivery.campaign_counts(campaign.pk))
    else:
        _copy_counts(bulk, campaign.counters or {})
    bulk.counts_at = campaign.counters_at
    if bulk.cancelled_at is not None:
        bulk.status = BulkMessageStatus.FAILED
    elif finished:
        bulk.status = BulkMessageStatus.SENT if bulk.sent_count else BulkMessageStatus.FAILED
        bulk.sent_time = bulk.sent_time or campaign.completed_at or now()
    changed = tuple(getattr(bulk, name) for name in _FOLLOWED) != before
    if changed:
        bulk.updated_at = now()
    return changed


def bulk_messages_refresh(*, tenant: Tenant, pk: int | None = None) -> int:
    """Follow the campaigns of the tenant's messages that may have moved on: those still
    Pending, and those whose campaign's counters changed since (late delivery reports).
    Called before the API reads them; a message that has not moved costs no write."""
    rows = (
        BulkMessage.objects.filter(tenant=tenant)
        .filter(Q(status=BulkMessageStatus.PENDING) | Q(counts_at__lt=F("campaign__counters_at")))
        .select_related("campaign")
    )
    if pk is not None:
        rows = rows.filter(pk=pk)
    written = 0
    for bulk in rows:
        seen_at = bulk.updated_at
        if _follow(bulk, bulk.campaign):
            # Only over the row as it was read: a cancel or an edit committed meanwhile wins.
            written += BulkMessage.objects.filter(pk=bulk.pk, updated_at=seen_at).update(
                **{name: getattr(bulk, name) for name in (*_FOLLOWED, "updated_at")}
            )
    return written
