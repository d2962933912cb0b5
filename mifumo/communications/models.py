"""School bulk messages: the communications spec's BulkMessage, sent as a delivery Campaign.

A BulkMessage is what the school admin wrote and to whom ("All Parents", "Form 2B", "Parents
of Form 2B", typed numbers and addresses); its Campaign is what the engine sends, one Message
per recipient. `status` and the counts follow the campaign (services.bulk_messages_refresh).
"""

from __future__ import annotations

from django.db import models
from django.utils.timezone import now

from mifumo.delivery.models import Campaign
from mifumo.tenancy.models import Tenant, User


class DeliveryMethod(models.TextChoices):
    EMAIL = "email", "E-mail"
    SMS = "sms", "SMS"


class BulkMessageStatus(models.TextChoices):
    # The spec's values, capitalised as it writes them.
    PENDING = "Pending"  # some messages have not reached a final state yet
    SENT = "Sent"  # every message is final and at least one was sent
    FAILED = "Failed"  # every message is final and none was sent, or the admin cancelled it


class BulkMessage(models.Model):
    # The spec's integer id (DEFAULT_AUTO_FIELD: a BigAutoField).
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="bulk_messages", db_index=False
    )
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Replaced when a message is edited before it was dispatched (the old one is cancelled).
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    recipient_group = models.CharField(max_length=150, blank=True)
    custom_recipients = models.TextField(blank=True)
    subject = models.CharField(max_length=300, blank=True)  # Campaign.subject's length
    message_body = models.TextField()
    delivery_method = models.CharField(max_length=5, choices=DeliveryMethod.choices)
    status = models.CharField(
        max_length=7, choices=BulkMessageStatus.choices, default=BulkMessageStatus.PENDING
    )
    scheduled_time = models.DateTimeField(null=True, blank=True)
    # When the last message reached its final state (Sent or Failed).
    sent_time = models.DateTimeField(null=True, blank=True)
    total_recipients = models.PositiveIntegerField(default=0)
    sent_count = models.PositiveIntegerField(default=0)  # sent or delivered
    failed_count = models.PositiveIntegerField(default=0)  # failed, cancelled or unknown
    # People the message could not be addressed to (no e-mail address, opted out, ...):
    # all of them counted, the first SKIPPED_LIST_MAX listed with the reason.
    skipped_count = models.PositiveIntegerField(default=0)
    skipped_recipients = models.JSONField(default=list, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # The campaign's counters_at when the counts were last copied: newer counters (delivery
    # reports) are copied again.
    counts_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [
            # The list, newest first; also the tenant's rows the refresh looks at.
            models.Index(fields=["tenant", "-created_at"], name="bulk_message_list"),
        ]

    def __str__(self) -> str:
        return self.subject or self.message_body[:50]

    @property
    def is_email(self) -> bool:
        return self.delivery_method == DeliveryMethod.EMAIL
