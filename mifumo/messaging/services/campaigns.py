"""Campaign actions that carry business rules beyond the engine's: a retry costs credits, and
cancelling or retrying is an operation the audit log records."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from django.db.models import Sum

from mifumo.delivery import services as delivery
from mifumo.delivery.models import Campaign, Message
from mifumo.messaging.services import billing
from mifumo.tenancy import audit
from mifumo.tenancy.models import AuditAction, User


def campaign_cancel(*, campaign: Campaign) -> int:
    """Cancel what has not been sent (delivery.services.campaign_cancel), audited."""
    with audit.operation(
        tenant=campaign.tenant, action=AuditAction.CAMPAIGN_CANCEL, object_ids=[campaign.pk]
    ) as op:
        cancelled = delivery.campaign_cancel(campaign=campaign)
        op.counts = {"cancelled": cancelled}
    return cancelled


def campaign_retry_paid(
    *, campaign: Campaign, statuses: Iterable[str], created_by: User | None = None
) -> int:
    """Queue the campaign's failed/unknown messages again, reserving their cost first: a
    retry that the balance does not cover is refused with the 402, like any send."""
    statuses = list(statuses)
    with audit.operation(
        tenant=campaign.tenant,
        action=AuditAction.CAMPAIGN_RETRY,
        object_ids=[campaign.pk],
        user=created_by,
    ) as op:
        if billing.billing_enabled():
            cost = Message.objects.filter(campaign=campaign, status__in=statuses).aggregate(
                total=Sum("cost")
            )["total"] or Decimal("0")
            if cost:
                billing.credit_reserve(
                    tenant=campaign.tenant, campaign=campaign, cost=cost, created_by=created_by
                )
        retried = delivery.campaign_retry(campaign=campaign, statuses=statuses)
        op.counts = {"retried": retried}
    return retried
