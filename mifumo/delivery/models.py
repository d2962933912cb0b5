"""Campaigns and their messages: what the engine sends and the states it moves them through.

    message:   queued -> sending -> sent -> delivered
                           \\-> failed       (permanent error, retries exhausted, opted out,
                           \\-> unknown       blocked destination; or the outcome is not known)
               queued/sending -> cancelled
    campaign:  draft | scheduled -> queued -> sending <-> paused -> completed
               (cancelled and failed from any state that has not finished)

The engine owns these models because it enforces their state machine; `messaging` and
`communications` create campaigns through delivery.services.campaign_accept.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.timezone import now

from mifumo.tenancy.models import Tenant, User


class Channel(models.TextChoices):
    SMS = "sms", "SMS"
    EMAIL = "email", "E-mail"


class CampaignStatus(models.TextChoices):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    PAUSED = "paused"  # the provider account cannot send right now; probed until it can
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


CAMPAIGN_FINISHED = {CampaignStatus.COMPLETED, CampaignStatus.CANCELLED, CampaignStatus.FAILED}


class MessageStatus(models.TextChoices):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"


# A campaign is finished when none of its messages is still waiting to be sent.
MESSAGE_PENDING = {MessageStatus.QUEUED, MessageStatus.SENDING}


class ProviderAccount(models.Model):
    """A tenant's own account at a vendor. Without one, the platform's account (env) is used."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="provider_accounts")
    provider = models.CharField(max_length=30)
    name = models.CharField(max_length=100)
    base_url = models.URLField(blank=True)
    api_key = models.CharField(max_length=500, blank=True)
    secret_key = models.CharField(max_length=500, blank=True)
    username = models.CharField(max_length=200, blank=True)
    sender_id = models.CharField(max_length=15, blank=True)
    rate_limit = models.CharField(max_length=20, blank=True)
    # Authenticates this account's delivery-report callbacks.
    webhook_secret = models.CharField(max_length=64, blank=True)
    fallback = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="provider_account_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.provider})"


class Campaign(models.Model):
    """One bulk send of any origin: the API's bulk send or upload, a school message, the
    dashboard. Counters are a cache of its messages' statuses, refreshed by the engine."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="campaigns")
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    name = models.CharField(max_length=200, blank=True)
    origin = models.CharField(max_length=30, default="api")
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.SMS)
    provider = models.CharField(max_length=30, blank=True)
    provider_account = models.ForeignKey(
        ProviderAccount, null=True, blank=True, on_delete=models.SET_NULL
    )
    sender_id = models.CharField(max_length=100, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField(blank=True)
    status = models.CharField(
        max_length=12, choices=CampaignStatus.choices, default=CampaignStatus.QUEUED
    )
    scheduled_at = models.DateTimeField(null=True, blank=True)
    pause_reason = models.CharField(max_length=300, blank=True)
    # While paused: when the engine next asks the vendor whether it can send again.
    probe_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    # Last time a dispatch task worked on it: the scheduler re-queues campaigns left idle.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    counters = models.JSONField(default=dict, blank=True)
    # counters were computed at counters_at; a delivery report after that makes them stale
    # and the scheduler recomputes them (one aggregate, not one update per report).
    counters_at = models.DateTimeField(null=True, blank=True)
    reports_at = models.DateTimeField(null=True, blank=True)
    total_messages = models.PositiveIntegerField(default=0)
    total_segments = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=now)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The campaigns list, newest first.
            models.Index(fields=["tenant", "-created_at"], name="campaign_list"),
            # The scheduler: scheduled campaigns that are due, paused ones to probe.
            models.Index(fields=["status", "scheduled_at"], name="campaign_due"),
        ]

    def __str__(self) -> str:
        return self.name or str(self.pk)

    @property
    def is_finished(self) -> bool:
        return self.status in CAMPAIGN_FINISHED


class Message(models.Model):
    """One message to one recipient in one campaign; unique per (campaign, to), which is the
    guard against sending the same campaign twice to anyone."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of their own: message_list starts with tenant, message_claim and the unique
    # constraint with campaign. Every index is written again whenever a message changes
    # status (three times on its way to `sent`), so the engine keeps only those queries need.
    #
    # No foreign key carries a database constraint (Django still cascades and nulls them on
    # delete): PostgreSQL checks each constraint once per inserted row at commit, and a
    # 10,000-recipient send spent more on those checks than on writing the rows (the campaign
    # check alone: a third of the insert). Messages are only ever written by
    # campaign_add_recipients, which locks the campaign's row (the update of its counters)
    # and refuses when it is gone; campaigns are deleted only with their tenant. The contact
    # is a weak link.
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    campaign = models.ForeignKey(
        Campaign,
        on_delete=models.CASCADE,
        related_name="messages",
        db_index=False,
        db_constraint=False,
    )
    contact = models.ForeignKey(
        "contacts.Contact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    to = models.CharField(max_length=254)
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField()
    segments = models.PositiveSmallIntegerField(default=1)
    encoding = models.CharField(max_length=5, default="gsm7")
    status = models.CharField(
        max_length=10, choices=MessageStatus.choices, default=MessageStatus.QUEUED
    )
    provider = models.CharField(max_length=30, blank=True)
    provider_message_id = models.CharField(max_length=100, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=now)
    # Set when a worker claims the message; a sweeper reclaims it after this time.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Set just before the request leaves: after it, the outcome can no longer be assumed.
    request_sent_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=50, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    cost = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "to"], name="message_once_per_recipient"),
        ]
        indexes = [
            # Dispatch: a campaign's queued messages that are due, oldest first; the sweeper's
            # campaigns with messages due; the per-status counts of a campaign.
            models.Index(fields=["campaign", "status", "next_attempt_at"], name="message_claim"),
            # Delivery reports find their message by the vendor's id. Partial: a message
            # enters it only once the vendor has given it an id, not when it is queued.
            models.Index(
                fields=["provider", "provider_message_id"],
                condition=~models.Q(provider_message_id=""),
                name="message_vendor_id",
            ),
            # Deleting a contact nulls its messages' link (on_delete): they are found here.
            # Partial, since most bulk-send recipients are not stored contacts.
            models.Index(
                fields=["contact"],
                condition=models.Q(contact__isnull=False),
                name="message_contact",
            ),
            # The sweeper: leases that ran out. Partial: a message is in it
            # only while it is being sent.
            models.Index(
                fields=["lease_expires_at"],
                condition=models.Q(status="sending"),
                name="message_lease",
            ),
            # The messages list of a tenant, newest first.
            models.Index(fields=["tenant", "-created_at"], name="message_list"),
        ]

    def __str__(self) -> str:
        return f"{self.to}: {self.status}"
