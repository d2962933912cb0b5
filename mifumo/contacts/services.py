"""Writes to contacts, tags and groups. Every function takes the caller's tenant and never
touches another tenant's rows: ids from elsewhere are simply "not found"."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.db.models.functions import Lower
from django.utils.timezone import now

from mifumo.contacts.fields import MAX_TAGS, clean_attributes
from mifumo.contacts.models import SYSTEM_GROUP_NAMES, Contact, Group, GroupKind, Tag
from mifumo.contacts.phones import InvalidPhone, normalize_phone
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.models import Tenant

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
    Tag.objects.bulk_create(
        [Tag(tenant=tenant, name=name) for name in wanted.values()], ignore_conflicts=True
    )
    # SQLite's lower() folds only ASCII: "Élève" is found by its exact spelling there.
    found = {
        tag.name.lower(): tag
        for tag in Tag.objects.annotate(lower_name=Lower("name")).filter(
            Q(lower_name__in=list(wanted)) | Q(name__in=list(wanted.values())), tenant=tenant
        )
    }
    return [found[key] for key in wanted]


def _replace_tags(contact_ids: Sequence[uuid.UUID], tags: Sequence[Tag]) -> None:
    ContactThrough.objects.filter(contact_id__in=contact_ids).delete()
    ContactThrough.objects.bulk_create(
        [ContactThrough(contact_id=cid, tag_id=tag.pk) for cid in contact_ids for tag in tags]
    )


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


def _locked_contacts(tenant: Tenant, contact_ids: Sequence[uuid.UUID]) -> list[Contact]:
    # Locked in id order, so two bulk edits of overlapping sets queue instead of deadlocking.
    return list(
        Contact.objects.select_for_update().filter(tenant=tenant, pk__in=contact_ids).order_by("pk")
    )


def _not_found(
    tenant_contacts: Sequence[Contact],
    contact_ids: Sequence[uuid.UUID],
    count_field: str,
) -> ApplicationError:
    found = {contact.pk for contact in tenant_contacts}
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


@transaction.atomic
def contacts_bulk_edit(
    *, tenant: Tenant, contact_ids: Sequence[uuid.UUID], updates: dict[str, Any]
) -> int:
    """Apply the same `updates` to every contact, or to none if any id is not the tenant's.

    `attributes` are merged into each contact's own (a null value removes that key); `tags`
    replace the contact's tags (bulk-tag adds and removes without replacing).
    """
    contacts = _locked_contacts(tenant, contact_ids)
    if len(contacts) != len(contact_ids):
        raise _not_found(contacts, contact_ids, "updated_count")
    stamp = now()
    fields = ["updated_at"]
    for field in ("name", "email", "is_active"):
        if field in updates:
            fields.append(field)
    if "attributes" in updates:
        fields.append("attributes")
    over_limits: list[str] = []
    for contact in contacts:
        for field in ("name", "email", "is_active"):
            if field in updates:
                setattr(contact, field, updates[field])
        if "attributes" in updates:
            merged = {**contact.attributes, **updates["attributes"]}
            try:
                # The updates fit the limits alone; merged into a contact's own they may not.
                contact.attributes = clean_attributes(
                    {k: v for k, v in merged.items() if v is not None}
                )
            except ValueError as error:
                over_limits.append(f"Contact {contact.pk}: {error}")
        contact.updated_at = stamp
    if over_limits:
        raise ApplicationError(
            f"The attributes would exceed a contact's limits: {'; '.join(over_limits[:5])}",
            error_code="validation_error",
            details={"updates": {"attributes": over_limits}},
        )
    # One UPDATE ... CASE statement for all of them, not one per contact.
    Contact.objects.bulk_update(contacts, fields)
    if "tags" in updates:
        _replace_tags(
            [c.pk for c in contacts], tags_get_or_create(tenant=tenant, names=updates["tags"])
        )
    return len(contacts)


@transaction.atomic
def contacts_bulk_delete(*, tenant: Tenant, contact_ids: Sequence[uuid.UUID]) -> int:
    contacts = _locked_contacts(tenant, contact_ids)
    if len(contacts) != len(contact_ids):
        raise _not_found(contacts, contact_ids, "deleted_count")
    Contact.objects.filter(tenant=tenant, pk__in=contact_ids).delete()
    return len(contacts)


@transaction.atomic
def contacts_bulk_tag(
    *,
    tenant: Tenant,
    contact_ids: Sequence[uuid.UUID],
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
) -> int:
    """Add and remove tags on each contact, leaving its other tags alone."""
    contacts = _locked_contacts(tenant, contact_ids)
    if len(contacts) != len(contact_ids):
        raise _not_found(contacts, contact_ids, "updated_count")
    ids = [c.pk for c in contacts]
    removing = {name.lower() for name in remove}
    _add_tags(
        ids,
        [t for t in tags_get_or_create(tenant=tenant, names=add) if t.name.lower() not in removing],
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
                        f"Contact {cid} would have more than {MAX_TAGS} tags." for cid in crowded
                    ]
                },
            )
    Contact.objects.filter(pk__in=ids).update(updated_at=now())
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
