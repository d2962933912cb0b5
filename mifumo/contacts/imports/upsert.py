"""Write one chunk of clean rows: a few statements per chunk, never one per row.

Duplicates are the same normalised phone, within the tenant or within the file:
- update_existing: the row's non-empty fields update the contact (tags and groups are added,
  attributes merged, an opt-out is kept); the row counts as updated.
- skip_duplicates: the contact is left alone; the row counts as skipped.
- neither: the row is reported as an error.
update_existing wins when both are true. A phone seen earlier in the same file counts as a
duplicate of the contact that row made. An import never clears an opt-out.

A guardian's phone on a student's row makes a contact of its own when there is none. Such a
contact is stamped with the import's start (`created_at = guardians_made_at`), which no other
contact has: when the guardian's own row comes in a later chunk, it completes that contact
(name, e-mail, tags, groups...) and counts as imported, as if it had come first, whatever the
policy. Contacts that were there before the import are never completed this way.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.timezone import now

from mifumo.contacts.imports import bulksql
from mifumo.contacts.imports.normalise import ROLE_GROUPS, ContactRow, RowError
from mifumo.contacts.models import SYSTEM_GROUP_NAMES, Contact, Group, GroupKind, Tag
from mifumo.tenancy.models import Tenant

ContactTags = Contact.tags.through
ContactGroups = Contact.groups.through
Guardians = Contact.guardians.through
_OPT_OUT_REASON = "Marked as opted out in an import"
# RFC 9562's variant: the top two bits of the random half are 10, so its first hex digit is
# 8, 9, a or b.
_VARIANT_DIGIT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
# The random part of new ids only keeps them apart (the timestamp and counter order them):
# a seeded generator, as os.urandom() costs 10 ms a chunk on some virtual machines.
_random = random.Random(os.urandom(32))  # noqa: S311 - uniqueness, not secrecy
# Reseeded in forked processes (Celery's prefork workers), or two workers would draw the
# same bits in the same millisecond.
os.register_at_fork(after_in_child=lambda: _random.seed(os.urandom(32)))


@dataclass(frozen=True)
class Policy:
    skip_duplicates: bool = True
    update_existing: bool = False


@dataclass
class ChunkResult:
    imported: int = 0
    updated: int = 0
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)

    def add(self, other: ChunkResult) -> None:
        self.imported += other.imported
        self.updated += other.updated
        self.skipped += other.skipped
        self.errors.extend(other.errors)


@dataclass(slots=True)
class _Target:
    """A contact the chunk updates (an existing one, or a new one repeated in the file),
    with the rows that make it."""

    phone: str
    contact_id: str | None  # as the database takes it (32 hex digits); None: a new contact
    name: str
    email: str
    attributes: dict
    is_active: bool
    opted_out_at: object
    created_at: datetime | None = None  # None: the chunk's time
    rows: list[ContactRow] = field(default_factory=list)
    changed: bool = False


@dataclass
class Plan:
    """A chunk's rows grouped by phone, with the ids and statement values of its candidate
    contacts: pure Python, no database, so the reader thread makes it (plan_chunk) while the
    database writes the chunk before; only what depends on the database is left to
    upsert_chunk."""

    stamp: datetime  # the chunk's time: its new contacts' created_at and updated_at
    values: _Values
    by_phone: dict[str, list[ContactRow]]
    ids: dict[str, str]
    candidates: list[tuple]


def plan_chunk(tenant: Tenant, rows: Sequence[ContactRow], policy: Policy, ops=None) -> Plan:
    """`ops`: the database's operations (connection.ops), taken by the caller in its own
    thread, since this may run in another: nothing here connects."""
    stamp = now()
    values = _Values(tenant, stamp, ops or connection.ops)
    by_phone: dict[str, list[ContactRow]] = {}
    for row in rows:
        by_phone.setdefault(row.phone, []).append(row)
    ids = dict(zip(by_phone, ordered_ids(len(by_phone)), strict=True))
    candidates = []
    for phone, group in by_phone.items():
        if len(group) > 1 and policy.update_existing:  # the file's later rows update the first
            target = _new_target(group[0], stamp)
            for row in group[1:]:
                _merge(target, row, stamp)
            candidates.append(values.contact(ids[phone], target))
        else:
            candidates.append(values.new_contact(ids[phone], group[0]))
    # In phone order, each page of the (tenant, phone) index is changed once per chunk rather
    # than again and again as random phones come by.
    candidates.sort(key=_phone_of)
    return Plan(stamp, values, by_phone, ids, candidates)


def upsert_chunk(
    *,
    tenant: Tenant,
    rows: Sequence[ContactRow],
    policy: Policy,
    guardians_made_at: datetime | None = None,
    plan: Plan | None = None,
) -> ChunkResult:
    """Create, update or skip each row; the caller holds the transaction.

    `guardians_made_at`: the import's start, the same for all its chunks (see the module's
    docstring); None when the file has no guardian column. `plan`: plan_chunk() of the same
    rows and policy, made beforehand (else made here).

    Every phone of the chunk is first inserted as a new contact, ON CONFLICT DO NOTHING:
    the database checks the (tenant, phone) index once, and RETURNING names the phones that
    were new. Only the others, the duplicates, are then read (update_existing) or counted.
    A SELECT before the INSERT would probe the same index twice for every row."""
    result = ChunkResult()
    if not rows:
        return result
    if plan is None:
        plan = plan_chunk(tenant, rows, policy)
    stamp, values, by_phone, ids, candidates = (
        plan.stamp,
        plan.values,
        plan.by_phone,
        plan.ids,
        plan.candidates,
    )
    created = set(
        bulksql.insert_rows(
            Contact,
            _CONTACT_COLUMNS,
            candidates,
            conflict=["tenant_id", "phone_e164"],
            returning="phone_e164",
        )
    )
    # Only an update reads the contacts that were there: a skip or an error needs no more
    # than knowing the phone was taken (or whether this import made it for a guardian).
    taken = [phone for phone in by_phone if phone not in created]
    existing = (
        _existing(tenant, taken, made_at=None if policy.update_existing else guardians_made_at)
        if taken and (policy.update_existing or guardians_made_at is not None)
        else {}
    )
    linked: list[tuple[str, list[ContactRow]]] = []
    changed: list[_Target] = []
    completed: list[_Target] = []
    for phone, group in by_phone.items():
        target = existing.get(phone)  # None: new, or there but not to be changed
        # Made by this import for a guardian: this is the guardian's own row.
        if target is not None and guardians_made_at and target.created_at == guardians_made_at:
            target.created_at = stamp
            rows_here = group if policy.update_existing else group[:1]
            for row in rows_here:
                _merge(target, row, stamp)
            completed.append(target)
            linked.append((target.contact_id, rows_here))
            result.imported += 1
            _count_repeats(result, policy, phone, group)
            continue
        if phone in created:
            result.imported += 1
            if policy.update_existing:
                result.updated += len(group) - 1
                linked.append((ids[phone], group))
                continue
            linked.append((ids[phone], group[:1]))
            _count_repeats(result, policy, phone, group)
            continue
        if policy.update_existing and target is not None:
            for row in group:
                _merge(target, row, stamp)
            changed.append(target)
            result.updated += len(group)
            linked.append((target.contact_id, group))
        elif policy.skip_duplicates or policy.update_existing:
            result.skipped += len(group)
        else:
            reason = f"A contact with the phone number {phone} already exists"
            result.errors += [RowError(r.row, "phone", phone, reason) for r in group]
    # One INSERT ... ON CONFLICT (tenant, phone) DO UPDATE for all the updated contacts; the
    # completed ones take the chunk's time as their creation, so no later row completes them.
    updates = ["name", "email", "attributes", "is_active", "opted_out_at", "updated_at"]
    for targets, columns in ((changed, updates), (completed, [*updates, "created_at"])):
        bulksql.insert_rows(
            Contact,
            _CONTACT_COLUMNS,
            [values.contact(uuid.uuid4().hex, t) for t in targets],
            conflict=["tenant_id", "phone_e164"],
            update=columns,
        )
    _link(tenant, values, linked, guardians_made_at, made={ids[phone] for phone in created})
    return result


def _count_repeats(
    result: ChunkResult, policy: Policy, phone: str, group: list[ContactRow]
) -> None:
    """The rows after the first of a phone that this chunk creates (or completes)."""
    if policy.update_existing:
        result.updated += len(group) - 1
    elif policy.skip_duplicates:
        result.skipped += len(group) - 1
    else:
        reason = f"Same phone number as row {group[0].row} ({phone})"
        result.errors += [RowError(r.row, "phone", phone, reason) for r in group[1:]]


def _existing(tenant: Tenant, phones: list[str], made_at: datetime | None) -> dict[str, _Target]:
    """The tenant's contacts with these phones (the chunk's duplicates: usually few); with
    `made_at`, only those created then (made by this import for a guardian)."""
    contacts = Contact.objects.filter(tenant=tenant, phone_e164__in=phones)
    if made_at is not None:
        contacts = contacts.filter(created_at=made_at)
    return {
        phone: _Target(phone, pk.hex, name, email, dict(attrs or {}), active, opted_out, created)
        for pk, phone, name, email, attrs, active, opted_out, created in contacts.values_list(
            "id",
            "phone_e164",
            "name",
            "email",
            "attributes",
            "is_active",
            "opted_out_at",
            "created_at",
        )
    }


def _new_target(row: ContactRow, stamp) -> _Target:
    return _Target(
        phone=row.phone,
        contact_id=None,
        name=row.name,
        email=row.email,
        attributes=dict(row.attributes),
        is_active=True if row.is_active is None else row.is_active,
        opted_out_at=stamp if row.opted_out else None,
        rows=[row],
    )


def _merge(target: _Target, row: ContactRow, stamp) -> None:
    """The row's non-empty fields over the contact's; lists are added to (in _link)."""
    target.name = row.name or target.name
    target.email = row.email or target.email
    target.attributes.update(row.attributes)
    if row.is_active is not None:
        target.is_active = row.is_active
    if row.opted_out and target.opted_out_at is None:
        target.opted_out_at = stamp
    target.rows.append(row)
    target.changed = True


class _Values:
    """Python values -> what the database driver takes, prepared once per chunk where they
    repeat (the tenant, the time), so a row costs microseconds, not an ORM model's 50.

    Ids are 32 hex digits: what SQLite stores for a UUIDField, and text PostgreSQL casts to
    uuid (bulksql does)."""

    def __init__(self, tenant: Tenant, stamp, ops) -> None:
        self.tenant = tenant.pk.hex
        self.ops = ops
        self.stamp = ops.adapt_datetimefield_value(stamp)
        self.raw_stamp = stamp

    def time(self, value):
        if value is None:
            return None
        if value is self.raw_stamp:
            return self.stamp
        return self.ops.adapt_datetimefield_value(value)

    @staticmethod
    def attributes(value: dict) -> str:
        # JSON text on both databases (bulksql casts it to jsonb on PostgreSQL).
        return json.dumps(value, ensure_ascii=False) if value else "{}"

    def new_contact(self, contact_id: str, row: ContactRow) -> tuple:
        return (
            contact_id,
            self.tenant,
            row.phone,
            row.name,
            row.email,
            self.attributes(row.attributes) if row.attributes else "{}",
            True if row.is_active is None else row.is_active,
            self.stamp if row.opted_out else None,
            _OPT_OUT_REASON if row.opted_out else "",
            self.stamp,
            self.stamp,
        )

    def contact(self, contact_id: str, target: _Target) -> tuple:
        opted_out_here = target.opted_out_at is self.raw_stamp
        created_at = target.created_at
        return (
            contact_id,
            self.tenant,
            target.phone,
            target.name,
            target.email,
            self.attributes(target.attributes),
            target.is_active,
            self.time(target.opted_out_at),
            _OPT_OUT_REASON if opted_out_here else "",
            self.stamp if created_at is None else self.time(created_at),
            self.stamp,
        )


def _phone_of(row: tuple) -> str:
    return row[2]


_CONTACT_COLUMNS = [
    "id", "tenant_id", "phone_e164", "name", "email", "attributes", "is_active",
    "opted_out_at", "opt_out_reason", "created_at", "updated_at",
]  # fmt: skip


def ordered_ids(count: int) -> list[str]:
    """UUIDv7s (RFC 9562) as 32 hex digits: a millisecond timestamp, a counter, random bits.

    Random (v4) ids land all over the primary key's B-tree and every index that holds the
    contact's id (tags, groups): on SQLite a 50,000-row import spent most of its time there.
    These ids follow each other, so each chunk's rows are appended together."""
    millis = time.time_ns() // 1_000_000
    # The random half as hex in one call; its first digit carries the variant bits (10xx).
    random = _random.randbytes(8 * count).hex()
    ids = []
    for index in range(count):
        high = ((millis + (index >> 12)) << 16) | 0x7000 | (index & 0xFFF)
        at = 16 * index
        ids.append(f"{high:016x}{_VARIANT_DIGIT[random[at]]}{random[at + 1 : at + 16]}")
    return ids


def _link(
    tenant: Tenant,
    values: _Values,
    contacts: list[tuple[str, list[ContactRow]]],
    guardians_made_at: datetime | None,
    made: set[str],
) -> None:
    """Tags, groups (including a school's role and class groups) and guardians. `made`: the
    ids of the contacts this chunk's INSERT created."""
    tag_names: dict[str, str] = {}
    group_kinds: dict[str, tuple[str, str]] = {}
    for _contact_id, rows in contacts:
        for row in rows:
            for tag in row.tags:
                tag_names.setdefault(tag.lower(), tag)
            if row.groups or row.role or row.class_name:
                for name in _row_groups(row):
                    group_kinds.setdefault(name[0].lower(), name)
            if row.guardian_phone:
                group_kinds.setdefault(ROLE_GROUPS["parent"].lower(), _system("parent"))
    tags = _named_ids(Tag, tenant, [(name, None) for name in tag_names.values()])
    groups = _named_ids(Group, tenant, list(group_kinds.values()))
    tag_links: list[tuple] = []
    group_links: list[tuple] = []
    wards = []
    for contact_id, rows in contacts:
        for row in rows:
            if row.tags:
                tag_links.extend((contact_id, tags[t.lower()]) for t in row.tags)
            if row.groups or row.role or row.class_name:
                group_links.extend((contact_id, groups[n.lower()]) for n, _ in _row_groups(row))
            if row.guardian_phone:
                wards.append((contact_id, row))
    _insert_links(ContactTags, ["contact_id", "tag_id"], tag_links, made)
    if wards:
        parents = groups[ROLE_GROUPS["parent"].lower()]
        group_links.extend(_link_guardians(tenant, values, wards, parents, guardians_made_at))
    _insert_links(ContactGroups, ["contact_id", "group_id"], group_links, made)


def _insert_links(model, columns: list[str], links: list[tuple], made: set[str]) -> None:
    """A contact made by this chunk has no links yet, and no other transaction can see it to
    add one: its links go in a plain INSERT. ON CONFLICT DO NOTHING, for the contacts that
    were there, costs PostgreSQL a speculative insertion per row (6,500 links: 50 ms, not 34).

    A pair may come twice (two rows of one phone): it is written once, in the contacts' order
    (their ids ascend, so the (contact, tag) index is appended to)."""
    new, old = [], []
    for link in dict.fromkeys(links):
        (new if link[0] in made else old).append(link)
    bulksql.insert_rows(model, columns, new)
    bulksql.insert_rows(model, columns, old, conflict=[])


def _system(role: str) -> tuple[str, str]:
    return ROLE_GROUPS[role], GroupKind.SYSTEM


def _row_groups(row: ContactRow) -> list[tuple[str, str]]:
    names = [
        (name, GroupKind.SYSTEM if name in SYSTEM_GROUP_NAMES else GroupKind.CUSTOM)
        for name in row.groups
    ]
    if row.role:
        names.append(_system(row.role))
    # A class group holds the class's students: a teacher's "class" column does not make
    # them a recipient of messages to the students.
    if row.class_name and row.role in ("", "student"):
        names.append((row.class_name, GroupKind.CLASS))
    return names


def _named_ids(model, tenant: Tenant, names: list[tuple[str, str | None]]) -> dict[str, object]:
    """{lower-case name: id} of the tenant's tags or groups for (name, group kind) pairs,
    creating the missing ones; an existing one keeps its spelling (and kind).

    Names are unique per tenant whatever their case, by an index on lower(name). SQLite's
    lower() only folds ASCII, so rows are matched by exact name as well as by lower case.
    """
    if not names:
        return {}
    model.objects.bulk_create(
        [
            model(tenant=tenant, name=name, **({"kind": kind} if kind else {}))
            for name, kind in names
        ],
        ignore_conflicts=True,
    )
    rows = (
        model.objects.annotate(lower_name=Lower("name"))
        .filter(tenant=tenant)
        .filter(
            Q(lower_name__in=[name.lower() for name, _ in names])
            | Q(name__in=[name for name, _ in names])
        )
        .values_list("name", "pk")
    )
    exact = {name: pk.hex if isinstance(pk, uuid.UUID) else pk for name, pk in rows}
    folded = {name.lower(): pk for name, pk in exact.items()}
    return {name.lower(): exact.get(name) or folded[name.lower()] for name, _ in names}


def _link_guardians(
    tenant: Tenant,
    values: _Values,
    wards: list[tuple[str, ContactRow]],
    parents_group,
    made_at: datetime | None,
) -> set[tuple[str, object]]:
    """Guardians are contacts too: found by phone or created (with the guardian's name and
    `made_at` as their creation), then linked to their wards and put in "All Parents".
    Returns those group links."""
    names: dict[str, str] = {}
    for _ward, row in wards:
        names.setdefault(row.guardian_phone, row.guardian_name)
    guardians = [
        _Target(phone, None, name, "", {}, True, None, made_at) for phone, name in names.items()
    ]
    bulksql.insert_rows(
        Contact,
        _CONTACT_COLUMNS,
        [values.contact(uuid.uuid4().hex, target) for target in guardians],
        conflict=["tenant_id", "phone_e164"],
    )
    ids = {
        phone: pk.hex
        for phone, pk in Contact.objects.filter(
            tenant=tenant, phone_e164__in=list(names)
        ).values_list("phone_e164", "id")
    }
    bulksql.insert_rows(
        Guardians,
        ["from_contact_id", "to_contact_id"],
        [(ward, ids[row.guardian_phone]) for ward, row in wards],
        conflict=[],
    )
    return {(ids[phone], parents_group) for phone in names}
