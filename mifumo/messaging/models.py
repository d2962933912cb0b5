"""What a tenant sends with: templates, sender ids, credits and their ledger, uploads, and
the idempotency records that make a retried bulk send safe.

Campaign and Message belong to `delivery` (the engine enforces their state machine); this
app builds campaigns through delivery.services and keeps the business rules around them.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import models
from django.db.models.functions import Lower
from django.utils.timezone import now

from mifumo.delivery.models import Campaign, Channel
from mifumo.tenancy.models import Tenant, User


class Template(models.Model):
    """A reusable text with variables: "Habari {{name|mzazi}}, ada ya {{term}} ni {{fee}}"."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="templates")
    name = models.CharField(max_length=100)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.SMS)
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField()
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            # "Ada" and "ada" are one template to a person: the service checks case-blind
            # first, and this catches two requests creating them at the same moment.
            models.UniqueConstraint("tenant", Lower("name"), name="template_name_any_case"),
        ]
        indexes = [
            # The templates list, newest first.
            models.Index(fields=["tenant", "-created_at"], name="template_list"),
        ]

    def __str__(self) -> str:
        return self.name


class SenderIdStatus(models.TextChoices):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class SenderId(models.Model):
    """The name a message appears to come from ("SHULE", "15050"). Vendors and regulators
    register them, so a tenant asks for one and platform staff approve it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="sender_ids")
    value = models.CharField(max_length=15)
    # Why the tenant needs it: vendors ask for this when registering a sender id.
    purpose = models.CharField(max_length=300, blank=True)
    status = models.CharField(
        max_length=10, choices=SenderIdStatus.choices, default=SenderIdStatus.PENDING
    )
    rejection_reason = models.CharField(max_length=300, blank=True)
    requested_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        verbose_name = "sender id"
        constraints = [
            # Vendors register sender ids without regard to case: "Shule" and "SHULE" are one.
            models.UniqueConstraint("tenant", Lower("value"), name="sender_id_value_any_case"),
        ]

    def __str__(self) -> str:
        return f"{self.value} ({self.status})"


class SmsPrice(models.Model):
    """Price of one SMS segment to one destination country, in credits. Countries without a
    row cost MIFUMO_SMS_PRICE (settings.SMS_DEFAULT_PRICE)."""

    region = models.CharField(max_length=2, unique=True, help_text="ISO 3166-1 alpha-2, e.g. TZ")
    price_per_segment = models.DecimalField(max_digits=10, decimal_places=4)

    class Meta:
        verbose_name = "SMS price"

    def __str__(self) -> str:
        return f"{self.region}: {self.price_per_segment}"


class CreditAccount(models.Model):
    """A tenant's credit balance. Changed only together with a CreditEntry that says why."""

    tenant = models.OneToOneField(
        Tenant, primary_key=True, on_delete=models.CASCADE, related_name="credit_account"
    )
    balance = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("0"))
    updated_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return f"{self.tenant}: {self.balance}"


class CreditEntryKind(models.TextChoices):
    TOP_UP = "top_up"
    SIGNUP = "signup"
    RESERVE = "reserve"  # a send's cost, taken when it is accepted
    REFUND = "refund"  # messages that failed or were cancelled, given back when settled
    ADJUSTMENT = "adjustment"


class CreditEntry(models.Model):
    """The ledger: every change of a balance, signed, with the balance after it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="credit_entries")
    kind = models.CharField(max_length=12, choices=CreditEntryKind.choices)
    amount = models.DecimalField(max_digits=14, decimal_places=4)
    balance_after = models.DecimalField(max_digits=14, decimal_places=4)
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        verbose_name_plural = "credit entries"
        indexes = [
            # A tenant's ledger, newest first.
            models.Index(fields=["tenant", "-created_at"], name="credit_ledger"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount}"


class CampaignCharge(models.Model):
    """What a campaign reserved and, once it has finished, what was given back."""

    campaign = models.OneToOneField(
        Campaign, primary_key=True, on_delete=models.CASCADE, related_name="charge"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    reserved = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("0"))
    refunded = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("0"))
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The settle task: charges of campaigns not settled yet.
            models.Index(
                fields=["campaign"],
                condition=models.Q(settled_at__isnull=True),
                name="charge_unsettled",
            ),
            # The settle task again: charges settled in the last days, for late reports.
            models.Index(fields=["settled_at"], name="charge_recently_settled"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}: {self.reserved} reserved"


class BulkUpload(models.Model):
    """One spreadsheet sent through bulk-upload, with its per-row report."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="bulk_uploads")
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    # One campaign per sender id in the file (column D may name a different one per row).
    campaigns = models.ManyToManyField(Campaign, blank=True, related_name="+")
    file_name = models.CharField(max_length=255, blank=True)
    total_contacts = models.PositiveIntegerField(default=0)
    processed_contacts = models.PositiveIntegerField(default=0)
    successful_contacts = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [models.Index(fields=["tenant", "-created_at"], name="bulk_upload_list")]

    def __str__(self) -> str:
        return self.file_name or str(self.pk)


class IdempotencyRecord(models.Model):
    """The first answer to a request carrying an Idempotency-Key. The unique constraint is
    the lock: a second request with the same key waits for the first one's transaction and
    then finds its answer."""

    id = models.BigAutoField(primary_key=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    endpoint = models.CharField(max_length=100)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "endpoint", "key"], name="idempotency_key_once"
            ),
        ]
        indexes = [
            # The sweeper drops records older than a day.
            models.Index(fields=["created_at"], name="idempotency_age"),
        ]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.key}"
