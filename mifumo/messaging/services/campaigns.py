"""Campaign actions that carry business rules beyond the engine's: a retry costs credits."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from mifumo.delivery import services as delivery
from mifumo.delivery.models import Campaign, Message
from mifumo.messaging.services import billing
from mifumo.tenancy.models import User


@transaction.atomic
def campaign_retry_paid(
    *, campaign: Campaign, statuses: Iterable[str], created_by: User | None = None
) -> int:
    """Queue the campaign's failed/unknown messages again, reserving their cost first: a
    retry that the balance does not cover is refused with the 402, like any send."""
    statuses = list(statuses)
    if billing.billing_enabled():
        cost = Message.objects.filter(campaign=campaign, status__in=statuses).aggregate(
            total=Sum("cost")
        )["total"] or Decimal("0")
        if cost:
            billing.credit_reserve(
                tenant=campaign.tenant, campaign=campaign, cost=cost, created_by=created_by
            )
    return delivery.campaign_retry(campaign=campaign, statuses=statuses)
