"""Writes to contacts, tags and groups. Every function takes the caller's tenant and never
touches another tenant's rows: ids from elsewhere are simply "not found"."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import IntegrityError, connection, models, transaction
from django.db.models import Count, F, Func, Q, Value
from django.db.models.functions import Cast, Length, Lower
from django.utils.timezone import now

from mifumo.contacts.fields import MAX_TAGS, clean_attributes
from mifumo.contacts.filters import id_list, uuid_array
from mifumo.contacts.models import (
    SYSTEM_GROUP_NAMES,
    Contact,
    Group,
    GroupKind,
    Tag,
)
from mifumo.contacts.phones import InvalidPhone, normalize_phone
from mifumo.tenancy import audit
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.models import AuditAction, Tenant

ContactThrough = Contact.tags.through
GroupThrough = Contact.groups.through
GuardianThrough = Contact.guardians.through


# --- tags ---------------------------------------------------------------------------------------


def tags_get_or_create(*, tenant: Tenant, names: Sequence[str]) -> list[Tag]:
    """The tenant's Tag rows for `names` (already cleaned), creating the missing ones. An
    existing tag keeps its spelling: "VIP" finds "vip"."""
    if not names:
        return []
    wanted = {name.lower(): name for name in names}
    found = _tags_named(tenant, wanted)
    if len(found) < len(wanted):  # most edits name tags the tenant has: one query, not two
        Tag.objects.bulk_create(
            [Tag(tenant=tenant, name=name) for key, name in wanted.items() if key not in found],
            ignore_conflicts=True,
        )
        found = _tags_named(tenant, wanted)
    return [found[key] for key in wanted]


def _tags_named(tenant: Tenant, wanted: dict[str, str]) -> dict[str, Tag]:
    # SQLite's lower() folds only ASCII: "Élève" is found by its exact spelling there.
    return {
        tag.name.lower(): tag
        for tag in Tag.objects.annotate(lower_name=Lower("name")).filter(
            Q(lower_name__in=list(wanted)) | Q(name__in=list(wanted.values())), tenant=tenant
        )
    }


def _replace_tags(contact_ids: Sequence[uuid.UUID], tags: Sequence[Tag]) -> None:
    ContactThrough.objects.filter(contact_id__in=id_list(contact_ids)).delete()
    if not contact_ids or not tags:
        return
    # Every pair in one INSERT ... SELECT: bulk_create built a model instance per pair, 200 for
    # a bulk edit of 100 contacts with two tags, about a fifth of its Python time (cProfile).
    tag_ids = [tag.pk for tag in tags]
    if connection.vendor == "postgresql":  # the ids as two arrays (filters.id_list says why)
        sql = (
            f"INSERT INTO {ContactThrough._meta.db_table} (contact_id, tag_id) "  # noqa: S608
            "SELECT c, t FROM unnest(%s::uuid[]) c, unnest(%s::bigint[]) t"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [uuid_array(contact_ids), tag_ids])
        return
    contacts = [Contact._meta.pk.get_db_prep_value(cid, connection) for cid in contact_ids]
    sql = (
        f"INSERT INTO {ContactThrough._meta.db_table} (contact_id, tag_id) "  # noqa: S608
        f"SELECT c.id, t.id FROM {Contact._meta.db_table} c, {Tag._meta.db_table} t "
        f"WHERE c.id IN ({', '.join(['%s'] * len(contacts))}) "
        f"AND t.id IN ({', '.join(['%s'] * len(tag_ids))})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*contacts, *tag_ids])


def _add_tags(contact_ids: Sequence[uuid.UUID], tags: Sequence[Tag]) -> None:
    ContactThrough.objects.bulk_create(
        [ContactThrough(contact_id=cid, tag_id=tag.pk) for cid in contact_ids for tag in tags],
        ignore_conflicts=True,
    )


# --- lookups ------------------------------------------------------------------------------------


def _groups_of(tenant: Tenant, group_ids: Iterable[uuid.UUID]) -> list[Group]:
    group_ids = list(dict.fromkeys(group_ids))
    groups = list(Group.objects.filter(tenant=tenant, pk__in=group_ids))
    missing = set(group_ids) - {group.pk for group in groups}
    if missing:
        raise ApplicationError(
            f"Unknown group ids: {sorted(str(m) for m in missing)}",
            error_code="validation_error",
            details={"group_ids": [f"Group {m} not found." for m in sorted(map(str, missing))]},
        )
    return groups


def _guardians_of(tenant: Tenant, guardian_ids: Iterable[uuid.UUID], ward_id=None) -> list:
    guardian_ids = list(dict.fromkeys(guardian_ids))
    if ward_id is not None and ward_id in guardian_ids:
        raise ApplicationError(
            "A contact cannot be their own guardian.",
            error_code="validation_error",
            details={"guardian_ids": ["A contact cannot be their own guardian."]},
        )
    found = set(
        Contact.objects.filter(tenant=tenant, pk__in=guardian_ids).values_list("pk", flat=True)
    )
    missing = [str(g) for g in guardian_ids if g not in found]
    if missing:
        raise ApplicationError(
            f"Unknown guardian ids: {missing}",
            error_code="validation_error",
            details={"guardian_ids": [f"Contact {m} not found." for m in missing]},
        )
    return guardian_ids


def _duplicate_phone(tenant: Tenant, phone_e164: str) -> ApplicationError:
    existing = Contact.objects.filter(tenant=tenant, phone_e164=phone_e164).first()
    return ApplicationError(
        f"A contact with the phone number {phone_e164} already exists.",
        error_code="duplicate_contact",
        status_code=409,
        details={
            "phone_e164": [f"A contact with the phone number {phone_e164} already exists."],
            "existing_id": str(existing.pk) if existing else None,
        },
    )


# --- single contacts ----------------------------------------------------------------------------


def _phone_in_region(tenant: Tenant, phone: str) -> str:
    try:
        return normalize_phone(phone, tenant.default_region)
    except InvalidPhone as error:
        raise ApplicationError(
            str(error), error_code="validation_error", details={"phone_e164": [str(error)]}
        ) from None


@transaction.atomic
def contact_create(
    *,
    tenant: Tenant,
    phone: str,
    name: str = "",
    email: str = "",
    tags: Sequence[str] = (),
    attributes: dict[str, Any] | None = None,
    is_active: bool = True,
    group_ids: Sequence[uuid.UUID] = (),
    guardian_ids: Sequence[uuid.UUID] = (),
) -> Contact:
    phone_e164 = _phone_in_region(tenant, phone)
    groups = _groups_of(tenant, group_ids)
    guardians = _guardians_of(tenant, guardian_ids)
    try:
        with transaction.atomic():
            contact = Contact.objects.create(
                tenant=tenant,
                phone_e164=phone_e164,
                name=name,
                email=email,
                attributes=attributes or {},
                is_active=is_active,
            )
    except IntegrityError:
        raise _duplicate_phone(tenant, phone_e164) from None
    _add_tags([contact.pk], tags_get_or_create(tenant=tenant, names=tags))
    contact.groups.set(groups)
    contact.guardians.set(guardians)
    return contact


@transaction.atomic
def contact_update(*, contact: Contact, **changes: Any) -> Contact:
    """Change the given fields; absent ones stay. `phone` is normalised in the tenant's region."""
    tenant = contact.tenant
    fields: list[str] = []
    if "phone" in changes:
        contact.phone_e164 = _phone_in_region(tenant, changes.pop("phone"))
        fields.append("phone_e164")
    for field in ("name", "email", "attributes", "is_active"):
        if field in changes:
            setattr(contact, field, changes.pop(field))
            fields.append(field)
    contact.updated_at = now()
    try:
        with transaction.atomic():
            contact.save(update_fields=[*fields, "updated_at"])
    except IntegrityError:
        raise _duplicate_phone(tenant, contact.phone_e164) from None
    if "tags" in changes:
        _replace_tags([contact.pk], tags_get_or_create(tenant=tenant, names=changes.pop("tags")))
    if "group_ids" in changes:
        contact.groups.set(_groups_of(tenant, changes.pop("group_ids")))
    if "guardian_ids" in changes:
        contact.guardians.set(_guardians_of(tenant, changes.pop("guardian_ids"), contact.pk))
    return contact


def contact_delete(*, contact: Contact) -> None:
    contact.delete()


def contact_opt_out(*, contact: Contact, reason: str = "") -> Contact:
    """Stop all messages to the contact. The contact stays listed, marked as opted out."""
    if contact.opted_out_at is None:
        contact.opted_out_at = now()
    contact.opt_out_reason = reason
    contact.updated_at = now()
    contact.save(update_fields=["opted_out_at", "opt_out_reason", "updated_at"])
    return contact


def contact_opt_in(*, contact: Contact) -> Contact:
    contact.opted_out_at = None
    contact.opt_out_reason = ""
    contact.updated_at = now()
    contact.save(update_fields=["opted_out_at", "opt_out_reason", "updated_at"])
    return contact


# --- bulk operations (the spec's "Contact Bulk Operations") -------------------------------------


def _locked_ids(tenant: Tenant, contact_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """The tenant's contacts among `contact_ids`, locked. In id order, so two bulk edits of
    overlapping sets queue instead of deadlocking."""
    return list(
        Contact.objects.select_for_update()
        .filter(tenant=tenant, pk__in=id_list(contact_ids))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _not_found(
    found_ids: Sequence[uuid.UUID],
    contact_ids: Sequence[uuid.UUID],
    count_field: str,
) -> ApplicationError:
    found = set(found_ids)
    missing = [str(cid) for cid in contact_ids if cid not in found]
    message = (
        "No contacts found with the provided IDs"
        if not found
        else f"Some contacts not found: {missing}"
    )
    return ApplicationError(
        message,
        error_code="contacts_not_found",
        status_code=404,
        details={"missing_ids": missing},
        body={
            count_field: 0,
            "total_requested": len(contact_ids),
            "errors": [f"Contact with ID {cid} not found" for cid in missing],
        },
    )


class MergeAttributes(Func):
    """A contact's attributes with `patch` merged in as RFC 7396 merges a flat object: its keys
    overwrite, a null removes the key. In the UPDATE itself, where Django's bulk_update spent
    50 ms building a CASE per contact and field for 100 contacts (bench/contacts_list.py)."""

    output_field = models.JSONField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, function="JSON_PATCH", **extra_context)

    def as_postgresql(self, compiler, connection, **extra_context):
        attributes, patch = self.get_source_expressions()
        attributes_sql, attributes_params = compiler.compile(attributes)
        patch_sql, patch_params = compiler.compile(patch)
        # Both fragments are Django's compiled SQL; the values travel as parameters.
        null_keys = f"SELECT key FROM jsonb_each({patch_sql}) WHERE jsonb_typeof(value) = 'null'"  # noqa: S608
        sql = f"(({attributes_sql} || jsonb_strip_nulls({patch_sql})) - ARRAY({null_keys}))"
        return sql, (*attributes_params, *patch_params, *patch_params)


def contacts_bulk_edit(
    *, tenant: Tenant, contact_ids: Sequence[uuid.UUID], updates: dict[str, Any]
) -> int:
    """Apply the same `updates` to every contact, or to none if any id is not the tenant's.

    `attributes` are merged into each contact's own (a null value removes that key); `tags`
    replace the contact's tags (bulk-tag adds and removes without replacing).
    """
    with audit.operation(
        tenant=tenant, action=AuditAction.CONTACTS_BULK_EDIT, object_ids=contact_ids
    ) as op:
        op.counts = {"requested": len(contact_ids), "updated": 0}
        ids = _locked_ids(tenant, contact_ids)
        if len(ids) != len(contact_ids):
            raise _not_found(ids, contact_ids, "updated_count")
        changes: dict[str, Any] = {
            field: updates[field] for field in ("name", "email", "is_active") if field in updates
        }
        if "attributes" in updates:
            changes["attributes"] = MergeAttributes(
                F("attributes"), Value(updates["attributes"], output_field=models.JSONField())
            )
        # One UPDATE for all of them.
        Contact.objects.filter(tenant=tenant, pk__in=id_list(ids)).update(
            **changes, updated_at=now()
        )
        if "attributes" in updates:
            _check_merged_attributes(ids)
        if "tags" in updates:
            _replace_tags(ids, tags_get_or_create(tenant=tenant, names=updates["tags"]))
        op.counts["updated"] = len(ids)
        return len(ids)


def _check_merged_attributes(contact_ids: Sequence[uuid.UUID]) -> None:
    """The updates fit the limits alone; merged into a contact's own they may not. Raising
    rolls the whole edit back."""
    over_limits: list[str] = []
    # Only contacts whose attributes are 300 characters long may be over: 51 keys take at
    # least 307 ({"k":0,...}), 8 KB of JSON at least 2,048. The rest stay in the database.
    merged = (
        Contact.objects.filter(pk__in=id_list(contact_ids))
        .alias(length=Length(Cast("attributes", models.TextField())))
        .filter(length__gte=300)
        .order_by("pk")
    )
    for pk, attributes in merged.values_list("pk", "attributes"):
        try:
            clean_attributes(attributes)
        except ValueError as error:
            over_limits.append(f"Contact {pk}: {error}")
    if over_limits:
        raise ApplicationError(
            f"The attributes would exceed a contact's limits: {'; '.join(over_limits[:5])}",
            error_code="validation_error",
            details={"updates": {"attributes": over_limits}},
        )


def contacts_bulk_delete(*, tenant: Tenant, contact_ids: Sequence[uuid.UUID]) -> int:
    with audit.operation(
        tenant=tenant, action=AuditAction.CONTACTS_BULK_DELETE, object_ids=contact_ids
    ) as op:
        op.counts = {"requested": len(contact_ids), "deleted": 0}
        ids = _locked_ids(tenant, contact_ids)
        if len(ids) != len(contact_ids):
            raise _not_found(ids, contact_ids, "deleted_count")
        Contact.objects.filter(tenant=tenant, pk__in=ids).delete()
        op.counts["deleted"] = len(ids)
        return len(ids)


def contacts_bulk_tag(
    *,
    tenant: Tenant,
    contact_ids: Sequence[uuid.UUID],
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
) -> int:
    """Add and remove tags on each contact, leaving its other tags alone."""
    with audit.operation(
        tenant=tenant, action=AuditAction.CONTACTS_BULK_TAG, object_ids=contact_ids
    ) as op:
        op.counts = {"requested": len(contact_ids), "updated": 0}
        ids = _locked_ids(tenant, contact_ids)
        if len(ids) != len(contact_ids):
            raise _not_found(ids, contact_ids, "updated_count")
        removing = {name.lower() for name in remove}
        _add_tags(
            ids,
            [
                t
                for t in tags_get_or_create(tenant=tenant, names=add)
                if t.name.lower() not in removing
            ],
        )
        if removing:
            ContactThrough.objects.filter(
                contact_id__in=ids,
                tag__in=Tag.objects.annotate(lower_name=Lower("name")).filter(
                    tenant=tenant, lower_name__in=list(removing)
                ),
            ).delete()
        if add:
            # Each list of tags was checked alone; added to a contact's own they may be too many.
            crowded = [
                str(contact_id)
                for contact_id in ContactThrough.objects.filter(contact_id__in=ids)
                .values("contact_id")
                .annotate(count=Count("id"))
                .filter(count__gt=MAX_TAGS)
                .order_by("contact_id")
                .values_list("contact_id", flat=True)
            ]
            if crowded:
                raise ApplicationError(
                    f"A contact has at most {MAX_TAGS} tags; these would have more: {crowded[:20]}",
                    error_code="validation_error",
                    details={
                        "add": [
                            f"Contact {cid} would have more than {MAX_TAGS} tags."
                            for cid in crowded
                        ]
                    },
                )
        Contact.objects.filter(pk__in=ids).update(updated_at=now())
        op.counts["updated"] = len(ids)
        return len(ids)


# --- groups -------------------------------------------------------------------------------------


def _check_group_name(tenant: Tenant, name: str, kind: str, exclude_id=None) -> str:
    name = " ".join(name.split())
    if kind == GroupKind.SYSTEM and name not in SYSTEM_GROUP_NAMES:
        raise ApplicationError(
            f"System groups are {', '.join(SYSTEM_GROUP_NAMES)}; use kind 'custom' or 'class'.",
            error_code="validation_error",
            details={"name": [f"{name!r} is not a system group."]},
        )
    clash = Group.objects.annotate(lower_name=Lower("name")).filter(
        tenant=tenant, lower_name=name.lower()
    )
    if exclude_id is not None:
        clash = clash.exclude(pk=exclude_id)
    if clash.exists():
        raise _group_exists(name)
    return name


def _group_exists(name: str) -> ApplicationError:
    return ApplicationError(
        f"A group named {name!r} already exists.",
        error_code="duplicate_group",
        status_code=409,
        details={"name": [f"A group named {name!r} already exists."]},
    )


@transaction.atomic
def group_create(*, tenant: Tenant, name: str, kind: str = GroupKind.CUSTOM, description: str = ""):
    name = _check_group_name(tenant, name, kind)
    try:
        with transaction.atomic():
            return Group.objects.create(
                tenant=tenant, name=name, kind=kind, description=description
            )
    except IntegrityError:
        raise _group_exists(name) from None


@transaction.atomic
def group_update(*, group: Group, **changes: Any) -> Group:
    kind = changes.get("kind", group.kind)
    if "name" in changes or "kind" in changes:
        group.name = _check_group_name(
            group.tenant, changes.get("name", group.name), kind, exclude_id=group.pk
        )
    group.kind = kind
    if "description" in changes:
        group.description = changes["description"]
    try:
        with transaction.atomic():
            group.save()
    except IntegrityError:
        raise _group_exists(group.name) from None
    return group


def _tenant_contact_ids(tenant: Tenant, contact_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    found = set(
        Contact.objects.filter(tenant=tenant, pk__in=contact_ids).values_list("pk", flat=True)
    )
    missing = [str(cid) for cid in contact_ids if cid not in found]
    if missing:
        raise ApplicationError(
            f"Some contacts not found: {missing}",
            error_code="contacts_not_found",
            status_code=404,
            details={"missing_ids": missing},
        )
    return list(contact_ids)


@transaction.atomic
def group_add_members(*, group: Group, contact_ids: Sequence[uuid.UUID]) -> int:
    ids = _tenant_contact_ids(group.tenant, contact_ids)
    GroupThrough.objects.bulk_create(
        [GroupThrough(contact_id=cid, group_id=group.pk) for cid in ids], ignore_conflicts=True
    )
    return len(ids)


@transaction.atomic
def group_remove_members(*, group: Group, contact_ids: Sequence[uuid.UUID]) -> int:
    ids = _tenant_contact_ids(group.tenant, contact_ids)
    GroupThrough.objects.filter(group_id=group.pk, contact_id__in=ids).delete()
    return len(ids)


# --- the list's total ---------------------------------------------------------------------------

# Each tenant's rows of +n and -n become one. One statement: a row is deleted by one fold only
# (a second fold running at once waits for the first, then skips the rows it removed), and its
# count moves into the new row in the same transaction, so the sum never changes.
_FOLD_COUNTS = """
WITH folded AS (
    DELETE FROM contacts_contactcount
    WHERE tenant_id IN (SELECT tenant_id FROM contacts_contactcount WHERE NOT is_squashed)
    RETURNING tenant_id, count
)
INSERT INTO contacts_contactcount (tenant_id, count, is_squashed)
SELECT tenant_id, SUM(count), TRUE FROM folded GROUP BY tenant_id
"""


def contact_counts_fold() -> int:
    """Fold the rows the contact triggers added since the last fold (PostgreSQL only: SQLite
    has no triggers). Returns the tenants folded."""
    if connection.vendor != "postgresql":
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_FOLD_COUNTS)
        return cursor.rowcount
