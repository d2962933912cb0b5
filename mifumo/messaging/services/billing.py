"""Credits: a balance per tenant, a ledger of every change, and a charge per campaign.

A send's cost is reserved when it is accepted (credit_reserve, inside the sender's
transaction, so a send that does not fit queues nothing) and settled once its campaign has
finished (credits_settle, every 30 s from the beat schedule). Settling is a true-up: the
campaign is charged exactly the cost of its messages that were not failed or cancelled, and
whatever was reserved beyond that comes back as a refund:

    due = reserved - refunded - cost of messages neither failed nor cancelled

Unknown messages are charged (they may have arrived); sent and delivered ones are charged.
Because it is a true-up, settling again is harmless, and it is done again when something
changes after a settlement:

- Delivery reports arrive after a campaign has completed (a "sent" message reported failed).
  `settled_at` holds the latest campaign activity the settlement took into account (its
  completed_at or reports_at, the engine's own timestamps, so no clocks are compared across
  processes); a charge whose campaign has a later completion or report is settled again,
  for LATE_REPORTS after the last settlement.
- A campaign is retried after settlement (delivery.services.campaign_retry puts failed
  messages back to the queue, and those were refunded). The caller should reserve the
  retried messages' cost with credit_reserve in the retry's transaction: a retry that does
  not fit is refused with the 402 like any send, and the reservation reopens the charge
  (settled_at = NULL); settling later gives back whatever the retry did not use. A retry
  whose caller does not reserve is still accounted for: the next settlement finds the
  re-sent messages charged but already refunded, and takes their cost then (an adjustment
  that may take the balance below zero, since those messages have gone). Nothing is ever
  refunded twice.

Lock order, to keep PostgreSQL free of deadlocks: a campaign's charge row, then the tenant's
account row (credit_reserve and settling both follow it). On SQLite every transaction holds
the database's write lock from BEGIN (settings: transaction_mode IMMEDIATE).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from mifumo.delivery.models import CAMPAIGN_FINISHED, Campaign, Message, MessageStatus
from mifumo.messaging.models import CampaignCharge, CreditAccount, CreditEntry, CreditEntryKind
from mifumo.messaging.pricing import message_cost
from mifumo.tenancy import audit
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.models import AuditAction, Tenant, User

logger = logging.getLogger(__name__)

# Messages in these states are given back when their campaign is settled.
REFUNDED_STATUSES = [MessageStatus.FAILED, MessageStatus.CANCELLED]
# How long after a settlement late delivery reports still change it: vendors report within
# a message's validity period, commonly 48 to 72 hours.
LATE_REPORTS = timedelta(days=3)
_CENT = Decimal("0.0001")  # the ledger's precision (decimal_places=4)


def _credits(value: Decimal | int | str) -> Decimal:
    return Decimal(value).quantize(_CENT, rounding=ROUND_HALF_UP)


def _text(value: Decimal) -> str:
    """12.5000 -> "12.5", for people to read."""
    return format(value.normalize(), "f")


def billing_enabled() -> bool:
    """Read at call time, so that the operator's setting (and a test's) applies at once."""
    return bool(settings.BILLING_ENABLED)


def credit_balance(tenant: Tenant) -> Decimal:
    balance = CreditAccount.objects.filter(tenant=tenant).values_list("balance", flat=True).first()
    return balance if balance is not None else _credits(0)


def credit_reserved_in_flight(tenant: Tenant) -> Decimal:
    """What the tenant's unsettled campaigns hold: reserved and not yet given back."""
    held = CampaignCharge.objects.filter(tenant=tenant, settled_at__isnull=True).aggregate(
        held=Sum(F("reserved") - F("refunded"))
    )["held"]
    return _credits(held or 0)


def _account_ensure(tenant_id) -> None:
    # INSERT … ON CONFLICT DO NOTHING: two first top-ups at once cannot both create it.
    CreditAccount.objects.bulk_create([CreditAccount(tenant_id=tenant_id)], ignore_conflicts=True)


def _balance_change(
    *,
    tenant_id,
    amount: Decimal,
    kind: str,
    campaign_id: uuid.UUID | None = None,
    note: str = "",
    created_by: User | None = None,
    covered: bool = False,
) -> CreditEntry | None:
    """Add `amount` (signed) to the balance and write the ledger entry saying why. With
    `covered`, only if the balance covers a debit: None when it does not.

    One conditional UPDATE: on PostgreSQL a concurrent change of the same account waits for
    this transaction and then re-checks the condition against the new balance, so two debits
    that together exceed the balance cannot both pass. Must run inside a transaction: the
    balance read back is then this transaction's own (the row stays locked until commit).
    """
    accounts = CreditAccount.objects.filter(tenant_id=tenant_id)
    if covered and amount < 0:
        accounts = accounts.filter(balance__gte=-amount)
    changed = accounts.update(balance=F("balance") + amount, updated_at=timezone.now())
    if not changed:
        if covered and amount < 0:
            return None
        _account_ensure(tenant_id)
        accounts.update(balance=F("balance") + amount, updated_at=timezone.now())
    balance_after = CreditAccount.objects.values_list("balance", flat=True).get(tenant_id=tenant_id)
    # created_at is taken now, with the account locked: the ledger's order is the order in
    # which balances changed, so each balance_after is the previous one plus this amount.
    return CreditEntry.objects.create(
        tenant_id=tenant_id,
        kind=kind,
        amount=amount,
        balance_after=balance_after,
        campaign_id=campaign_id,
        note=note[:300],
        created_by=created_by,
    )


def credit_reserve(
    *, tenant: Tenant, campaign: Campaign, cost: Decimal, created_by: User | None = None
) -> None:
    """Take a send's cost from the balance, or refuse it with a 402 ApplicationError.

    Called inside the sender's transaction, after the campaign and its messages are written
    (each with its cost): when this raises, the sender's transaction rolls back and nothing
    is queued. Calling it again for the same campaign (a retry, more recipients) adds to the
    campaign's reservation and reopens its settlement. A no-op while billing is off.
    """
    if not billing_enabled():
        return
    cost = _credits(cost)
    if cost < 0 or campaign.tenant_id != tenant.pk:
        raise ValueError(f"Cannot reserve {cost} for campaign {campaign.pk} of {tenant}")
    with transaction.atomic():
        # The charge first (see the lock order in the module docstring).
        CampaignCharge.objects.bulk_create(
            [CampaignCharge(campaign=campaign, tenant=tenant)], ignore_conflicts=True
        )
        CampaignCharge.objects.filter(pk=campaign.pk).update(
            reserved=F("reserved") + cost, settled_at=None
        )
        entry = _balance_change(
            tenant_id=tenant.pk,
            amount=-cost,
            kind=CreditEntryKind.RESERVE,
            campaign_id=campaign.pk,
            created_by=created_by,
            covered=True,
        )
        if entry is None:
            balance = credit_balance(tenant)
            raise ApplicationError(
                f"Insufficient credit: this send costs {_text(cost)} and the balance is "
                f"{_text(balance)}.",
                error_code="insufficient_credit",
                status_code=402,
                details={
                    "cost": str(cost),
                    "balance": str(balance),
                    "shortfall": str(_credits(cost - balance)),
                },
            )


def credit_top_up(
    *,
    tenant: Tenant,
    amount: Decimal,
    note: str = "",
    created_by: User | None = None,
    kind: str = CreditEntryKind.TOP_UP,
) -> CreditEntry:
    """Add credits (platform staff's top-ups, sign-up credits), recorded in the ledger."""
    with audit.operation(tenant=tenant, action=AuditAction.CREDITS_TOP_UP, user=created_by) as op:
        amount = _credits(amount)
        op.counts = {"amount": _text(amount)}
        if amount <= 0:
            raise ApplicationError(
                "A top-up must be a positive amount.",
                error_code="invalid_amount",
                details={"amount": [f"Must be greater than 0, got {amount}."]},
            )
        entry = _balance_change(
            tenant_id=tenant.pk, amount=amount, kind=kind, note=note, created_by=created_by
        )
        assert entry is not None
        op.add_ids([entry.pk])
        op.counts["balance_after"] = _text(entry.balance_after)
    return entry


def tenant_signup_credits(*, tenant: Tenant) -> None:
    """A new tenant's account, with MIFUMO_SIGNUP_CREDITS when billing is on."""
    if not billing_enabled():
        return
    amount = _credits(settings.SIGNUP_CREDITS)
    if amount > 0:
        credit_top_up(
            tenant=tenant, amount=amount, kind=CreditEntryKind.SIGNUP, note="Sign-up credits"
        )
    else:
        _account_ensure(tenant.pk)


# --- settling -------------------------------------------------------------------------------


def _charged_cost(campaign_id: uuid.UUID) -> Decimal:
    """What the campaign's messages cost, failed and cancelled ones excepted."""
    charged = Message.objects.filter(campaign_id=campaign_id).exclude(status__in=REFUNDED_STATUSES)
    totals = charged.aggregate(total=Sum("cost"), unpriced=Count("pk", filter=Q(cost__isnull=True)))
    total = totals["total"] or Decimal("0")
    if totals["unpriced"]:
        # The sender is to set every message's cost; one that did not must not go free.
        logger.warning(
            "Campaign %s has %d messages without a cost", campaign_id, totals["unpriced"]
        )
        unpriced = charged.filter(cost__isnull=True).values_list("to", "segments")
        total += sum((message_cost(to, segments) for to, segments in unpriced), Decimal("0"))
    return _credits(total)


@transaction.atomic
def _charge_settle(*, campaign_id: uuid.UUID, previous: datetime | None, mark: datetime) -> bool:
    # The claim: of two settlers, one moves settled_at on and the other changes nothing. No
    # join in this UPDATE: PostgreSQL re-checks a waiting UPDATE's plain conditions against
    # the row the other one committed, not those hidden in a subquery.
    claimed = CampaignCharge.objects.filter(pk=campaign_id, settled_at=previous).update(
        settled_at=mark
    )
    if not claimed:
        return False
    charge = CampaignCharge.objects.get(pk=campaign_id)
    due = _credits(charge.reserved - charge.refunded - _charged_cost(campaign_id))
    if due:
        CampaignCharge.objects.filter(pk=campaign_id).update(refunded=F("refunded") + due)
        if due > 0:
            kind, note = CreditEntryKind.REFUND, "Failed and cancelled messages"
        else:
            kind, note = CreditEntryKind.ADJUSTMENT, "Re-sent messages that had been refunded"
        _balance_change(
            tenant_id=charge.tenant_id, amount=due, kind=kind, campaign_id=campaign_id, note=note
        )
    return True


def credits_settle(*, now: datetime | None = None) -> int:
    """Settle the charges of finished campaigns (see the module docstring); returns how many
    were settled. Safe to run twice at once, and running it again changes nothing."""
    stamp = now or timezone.now()
    settled_after = F("settled_at")
    candidates = CampaignCharge.objects.filter(
        Q(campaign__status__in=CAMPAIGN_FINISHED)
        & (
            Q(settled_at__isnull=True)
            | (
                Q(settled_at__gte=stamp - LATE_REPORTS)
                & (
                    Q(campaign__completed_at__gt=settled_after)
                    | Q(campaign__reports_at__gt=settled_after)
                )
            )
        )
    ).values_list("campaign_id", "settled_at", "campaign__completed_at", "campaign__reports_at")
    settled = 0
    for campaign_id, previous, completed_at, reports_at in candidates:
        # Read before the messages are: a report applied after this read has a later
        # reports_at than the mark, so the charge is settled again on the next run.
        marks = [t for t in (completed_at, reports_at) if t is not None]
        mark = max(marks) if marks else stamp
        if _charge_settle(campaign_id=campaign_id, previous=previous, mark=mark):
            settled += 1
    return settled
