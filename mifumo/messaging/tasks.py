"""Celery tasks of the messaging app. Each is safe to run twice at once."""

from __future__ import annotations

from celery import shared_task

from mifumo.messaging.services import billing


@shared_task
def settle_credits() -> int:
    """Refund what finished campaigns reserved for messages that failed or were cancelled."""
    return billing.credits_settle()
