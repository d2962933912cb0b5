"""Contacts, their tags and groups."""

from __future__ import annotations

import uuid

from django.db import connection, models
from django.db.models.functions import Lower
from django.utils.timezone import now

from mifumo.tenancy.models import Tenant


class Tag(models.Model):
    """A label on contacts ("vip", "wazazi"). Names are unique per tenant whatever their case."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=50)

    class Meta:
        constraints = [
            # Also the index for the ?tag= filter's name lookup.
            models.UniqueConstraint(Lower("name"), "tenant", name="tag_unique_name_per_tenant"),
        ]

    def __str__(self) -> str:
        return self.name


class GroupKind(models.TextChoices):
    CUSTOM = "custom", "Custom"
    CLASS = "class", "Class"  # a school class such as "Form 2B": its students
    SYSTEM = "system", "System"  # a school's "All Students", "All Parents", ...


SYSTEM_GROUP_NAMES = ("All Students", "All Parents", "All Teachers", "All Staff")


class Group(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=GroupKind.choices, default=GroupKind.CUSTOM)
    description = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "tenant", name="group_unique_name_per_tenant"),
        ]

    def __str__(self) -> str:
        return self.name


class E164Field(models.CharField):
    """A phone number as E.164 text ("+255712345678"): a plus and digits, whose only sensible
    order is their bytes'. On PostgreSQL the column takes the "C" collation, under which a
    plain B-tree serves a prefix search (LIKE '+2557%'): contact_unique_phone serves ?search=
    by phone, and no second index of the phone (varchar_pattern_ops, dropped by migration
    0010) is written on every import and edit. SQLite compares bytes already (BINARY)."""

    def db_parameters(self, connection):
        parameters = super().db_parameters(connection)
        if connection.vendor == "postgresql":
            parameters["collation"] = "C"
        return parameters


class Contact(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: every index of the table below begins with tenant, and each one
    # more is written again by every change of a contact's name (bulk edit).
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="contacts", db_index=False
    )
    name = models.CharField(max_length=200, blank=True)
    phone_e164 = E164Field(max_length=16)
    email = models.EmailField(max_length=254, blank=True)
    tags = models.ManyToManyField(Tag, related_name="contacts", blank=True, through="ContactTag")
    attributes = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    opted_out_at = models.DateTimeField(null=True, blank=True)
    opt_out_reason = models.CharField(max_length=200, blank=True)
    groups = models.ManyToManyField(
        Group, related_name="contacts", blank=True, through="ContactGroup"
    )
    # School relations: a student's guardians are other contacts (their parents).
    guardians = models.ManyToManyField("self", symmetrical=False, related_name="wards", blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            # One contact per phone in a tenant; also serves lookups by exact phone, searches by
            # a phone's beginning (?search=0712: LIKE '+255712%', see E164Field) and
            # ?ordering=phone_e164.
            models.UniqueConstraint(fields=["tenant", "phone_e164"], name="contact_unique_phone"),
        ]
        indexes = [
            # The default list order: newest first, keyset-friendly with id as tie-breaker.
            models.Index(fields=["tenant", "-created_at", "-id"], name="contact_list_order"),
            # ?ordering=name and name-prefix lookups.
            models.Index(fields=["tenant", "name"], name="contact_tenant_name"),
            # ?is_active=false, in the list's order, and its count. Partial: the few inactive
            # contacts only, so imports (whose contacts are active) never write it. A
            # (tenant, is_active) index cost every import a B-tree insert per contact and
            # served ?is_active=true no better than contact_list_order with a filter (nearly
            # every contact is active); ?opted_out= never used it (migration 0006).
            models.Index(
                fields=["tenant", "-created_at", "-id"],
                condition=models.Q(is_active=False),
                name="contact_inactive",
            ),
        ]
        # PostgreSQL-only indexes (e-mail substring search) are made in migration 0002, which
        # names the queries they serve; name searches have the word table (ContactWord).

    def __str__(self) -> str:
        return f"{self.name} <{self.phone_e164}>"

    @property
    def is_opted_out(self) -> bool:
        return self.opted_out_at is not None


class ContactTag(models.Model):
    """A contact's tag: the table Django made for Contact.tags (contacts_contact_tags), written
    out so that its constraints and indexes are ours to choose (migration 0009).

    No foreign-key constraints in the database: an import writes a link for nearly every
    contact, and PostgreSQL checked each one twice at commit (31 ms of every 5,000 links, a
    third of their INSERT). Links are written only here, for contacts and tags made or locked
    in the same transaction, and deleted with them by Django's cascade (every delete of a
    contact, a tag or a tenant goes through the ORM), as Message's links are. No index of its
    own on `contact`: the unique (contact, tag) index begins with it."""

    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+"
    )
    # Its index: the contacts with a tag (?tag=, a send to a tag).
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, db_constraint=False, related_name="+")

    class Meta:
        db_table = "contacts_contact_tags"
        # One link a pair; also a contact's tags (the index begins with contact).
        unique_together = [("contact", "tag")]

    def __str__(self) -> str:
        return f"{self.contact_id} #{self.tag_id}"


class ContactGroup(models.Model):
    """A contact's group membership (contacts_contact_groups): written out for the same
    reasons as ContactTag."""

    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+"
    )
    # Its index: a group's members (?group=, a send to a group, member counts).
    group = models.ForeignKey(
        Group, on_delete=models.CASCADE, db_constraint=False, related_name="+"
    )

    class Meta:
        db_table = "contacts_contact_groups"
        # One membership a pair; also a contact's groups (the index begins with contact).
        unique_together = [("contact", "group")]

    def __str__(self) -> str:
        return f"{self.contact_id} in {self.group_id}"


class ContactWord(models.Model):
    """One word of a contact's name, lower case, for ?search= by the beginnings of words
    ("ju mu" finds Juma Mushi). PostgreSQL only: the table, its triggers on contacts_contact
    and its one index are made by migration 0005 (hence unmanaged); nothing in Python writes
    it. SQLite (embedded) matches the names themselves (filters.name_search).

    `words` is the whole name as words (" juma mushi "), so a search of several words reads
    the rows of one word and checks the others in the same index entry, without the contact.
    """

    pk = models.CompositePrimaryKey("tenant", "word", "contact")
    tenant = models.ForeignKey(
        Tenant, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    word = models.TextField()
    contact = models.ForeignKey(
        Contact, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    created_at = models.DateTimeField()  # the contact's, for the list's order
    words = models.TextField()

    class Meta:
        managed = False

    def __str__(self) -> str:
        return self.word


class ContactCount(models.Model):
    """A tenant's number of contacts on PostgreSQL, as rows of +n and -n written by triggers on
    contacts_contact (migration 0004) and folded into one row per tenant by
    services.contact_counts_fold (temba's SystemLabelCount). The unfiltered contact list reads
    their sum instead of COUNT(*), which for a million contacts is an index-only scan of 40-60 ms.

    The triggers are per statement: an import's INSERT of 50,000 rows adds one row here. They
    watch INSERT, DELETE and TRUNCATE only, since a contact never changes tenant and the list
    counts every contact, active, inactive or opted out alike.
    """

    # The database deletes these rows with their tenant (ON DELETE CASCADE, migration 0004):
    # Django's cascade would delete them before the contacts, whose triggers add rows again.
    tenant = models.ForeignKey(
        Tenant, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    count = models.BigIntegerField()
    is_squashed = models.BooleanField(default=False)

    class Meta:
        indexes = [
            # The list's total: SUM(count) WHERE tenant_id = %s.
            models.Index(fields=["tenant"], name="contact_count_tenant"),
            # The fold's "which tenants have rows to fold".
            models.Index(
                fields=["tenant"],
                condition=models.Q(is_squashed=False),
                name="contact_count_unsquashed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.count:+} contacts"

    @classmethod
    def total_for(cls, tenant: Tenant) -> int:
        """The tenant's number of contacts, exact. SQLite (embedded) has no triggers here and
        counts the rows: its tenants are small."""
        if connection.vendor != "postgresql":
            return Contact.objects.filter(tenant=tenant).count()
        # Written out: the ORM's aggregate() took a twelfth of a list page's Python (cProfile).
        with connection.cursor() as cursor:
            cursor.execute(
                f'SELECT sum(count) FROM "{cls._meta.db_table}" WHERE tenant_id = %s',  # noqa: S608
                [tenant.pk],
            )
            return int(cursor.fetchone()[0] or 0)  # sum() of bigint is numeric: a Decimal


# Import jobs live in contacts/imports/ and belong to this app.
from mifumo.contacts.imports.models import (  # noqa: E402, F401
    ImportJob,
    ImportRowError,
    ImportStatus,
)
