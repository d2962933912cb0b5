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
