"""Celery tasks of the messaging app. Each is safe to run twice at once."""

from __future__ import annotations

from celery import shared_task

from mifumo.messaging import idempotency
from mifumo.messaging.services import billing


@shared_task
def settle_credits() -> int:
    """Refund what finished campaigns reserved for messages that failed or were cancelled."""
    return billing.credits_settle()


@shared_task
def expire_idempotency_keys() -> int:
    """Forget bulk-send answers older than MIFUMO_IDEMPOTENCY_KEY_HOURS."""
    return idempotency.idempotency_records_expire()
