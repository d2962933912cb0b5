"""Tenants (organisations), their users, roles and API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils.timezone import now


class Tenant(models.Model):
    """An organisation: a school, NGO or business. Every tenant-owned row points here."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    # ISO 3166-1 alpha-2: local phone numbers ("0712 345 678") are read in this region.
    default_region = models.CharField(max_length=2, default="TZ")
    timezone = models.CharField(max_length=64, default="Africa/Dar_es_Salaam")
    # ISO codes of the countries the tenant may text; empty means its own country only. SMS to
    # anywhere else never reaches a vendor (SMS pumping protection).
    allowed_countries = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return self.name

    @property
    def allowed_regions(self) -> list[str]:
        return list(self.allowed_countries) or [self.default_region]


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields) -> User:
        if not email:
            raise ValueError("users need an e-mail address")
        user = self.model(email=normalize_email(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> User:
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)

    def get_by_natural_key(self, email: str) -> User:
        return self.get(email=normalize_email(email))


def normalize_email(email: str) -> str:
    # Logins are case-insensitive in practice: people type "Juma@School.ac.tz" one day and
    # "juma@school.ac.tz" the next. One spelling is stored so the unique index catches both.
    return email.strip().lower()


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with an e-mail address. Belongs to one tenant via Membership.

    is_staff marks platform operators (Django admin: sender-id approval, credit top-ups); it
    grants nothing inside the tenant API.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    def __str__(self) -> str:
        return self.email


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


class Membership(models.Model):
    """A user's place in a tenant. One tenant per user keeps every request's tenant obvious."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="membership")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [
            # The users list: members of one tenant.
            models.Index(fields=["tenant", "role"], name="membership_tenant_role"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


API_KEY_PREFIX = "mif"


def _hash_secret(secret: str) -> str:
    # Keys are 256 random bits, so a fast hash is enough: nothing to brute-force, unlike
    # passwords, and it keeps per-request authentication cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKeyQuerySet(models.QuerySet):
    def usable(self):
        return self.filter(revoked_at__isnull=True, tenant__is_active=True)


class ApiKey(models.Model):
    """A secret for server-to-server calls, shown once at creation and stored hashed.

    The key acts for the admin who created it, with the role chosen for it (never more than
    that admin's): deactivating the admin disables their keys, as revoking does.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    created_by = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    # The public part of the key, used to find the row; the rest is only kept as a hash.
    lookup_id = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def issue(cls, *, tenant: Tenant, created_by: User, name: str, role: str) -> tuple[ApiKey, str]:
        """Create a key and return it with its plain text, which is never stored."""
        lookup_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        key = cls.objects.create(
            tenant=tenant,
            created_by=created_by,
            name=name,
            role=role,
            lookup_id=lookup_id,
            secret_hash=_hash_secret(secret),
        )
        return key, f"{API_KEY_PREFIX}_{lookup_id}_{secret}"

    @staticmethod
    def split(plain: str) -> tuple[str, str] | None:
        parts = plain.split("_", 2)
        if len(parts) != 3 or parts[0] != API_KEY_PREFIX or not parts[1] or not parts[2]:
            return None
        return parts[1], parts[2]

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(self.secret_hash, _hash_secret(secret))

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class AuditAction(models.TextChoices):
    CONTACTS_BULK_EDIT = "contacts.bulk_edit", "Bulk edit of contacts"
    CONTACTS_BULK_DELETE = "contacts.bulk_delete", "Bulk delete of contacts"
    CONTACTS_BULK_TAG = "contacts.bulk_tag", "Bulk tagging of contacts"
    CONTACTS_BULK_IMPORT = "contacts.bulk_import", "Contacts imported (bulk-import)"
    CONTACTS_IMPORT_JOB = "contacts.import_job", "Contacts import file uploaded"
    SMS_BULK_SEND = "sms.bulk_send", "Bulk SMS send"
    SMS_BULK_UPLOAD = "sms.bulk_upload", "Bulk SMS upload"
    BULK_MESSAGE_CREATE = "bulk_message.create", "School bulk message"
    BULK_MESSAGE_CANCEL = "bulk_message.cancel", "School bulk message cancelled"
    BULK_MESSAGE_DELETE = "bulk_message.delete", "School bulk message deleted"
    CAMPAIGN_CANCEL = "campaign.cancel", "Campaign cancelled"
    CAMPAIGN_RETRY = "campaign.retry", "Campaign retried"
    USER_ADD = "user.add", "User added"
    USER_UPDATE = "user.update", "User role or status changed"
    API_KEY_ISSUE = "api_key.issue", "API key created"
    API_KEY_REVOKE = "api_key.revoke", "API key revoked"
    CREDITS_TOP_UP = "credits.top_up", "Credits topped up"


class AuditOutcome(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class AuditRecord(models.Model):
    """One bulk or administrative operation: who did what to how many, and what happened.

    Written by mifumo.tenancy.audit, in the operation's transaction when it succeeds and after
    its rollback when it fails. Never changed afterwards: the API and the admin only read.
    The actor is kept twice: as foreign keys (null once a key or user is gone) and as text, so
    "who" is still answerable months later.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="audit_records")
    created_at = models.DateTimeField(default=now)
    action = models.CharField(max_length=40, choices=AuditAction.choices)
    outcome = models.CharField(max_length=10, choices=AuditOutcome.choices)
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.CharField(max_length=254, blank=True)  # e-mail, "api key <name>", "system"
    object_ids = models.JSONField(default=list, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    message = models.CharField(max_length=500, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The audit-log list: a tenant's records, newest first, optionally by action.
            models.Index(fields=["tenant", "-created_at"], name="audit_tenant_created"),
            models.Index(fields=["tenant", "action", "-created_at"], name="audit_tenant_action"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.outcome} by {self.actor or 'system'}"

    @property
    def counts_text(self) -> str:
        """The counts as text, in name order (PostgreSQL's jsonb keeps no order of its own)."""
        return ", ".join(f"{name}: {value}" for name, value in sorted(self.counts.items()))
