"""Who a school message goes to: a group ("All Parents", "Form 2B", "Parents of Form 2B") and
typed phone numbers and e-mail addresses, turned into one address per person.

Reads only. A bad entry in custom_recipients is an error listing every bad entry (never
dropped quietly); a person who cannot receive this kind of message (no e-mail address for an
e-mail, opted out, inactive) is skipped and reported with the reason.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Lower

from mifumo.communications.models import DeliveryMethod
from mifumo.contacts.models import SYSTEM_GROUP_NAMES, Contact, Group, GroupKind
from mifumo.contacts.phones import InvalidPhone, normalize_phone
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.models import Tenant

PARENTS_OF = "Parents of "
# skipped_recipients lists this many; skipped_count counts them all.
SKIPPED_LIST_MAX = 100
# The spec: "comma-separated or newline-separated". Semicolons too, as mail programs write
# address lists. Not spaces: "+255 712 345 678" is one entry.
_SEPARATORS = re.compile(r"[,;\r\n]+")
# Something meant as a phone number: digits with the usual punctuation, 7 digits or more.
_PHONE_LIKE = re.compile(r"^\+?[\d\s\-().]+$")

_CONTACT_FIELDS = ("id", "name", "phone_e164", "email", "opted_out_at", "is_active")


@dataclass
class Audience:
    """One address per person, in order: the group's members, then the custom entries."""

    addresses: list[tuple[str, uuid.UUID | None]] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)  # the first SKIPPED_LIST_MAX
    skipped_count: int = 0

    def skip(self, *, name: str = "", phone: str = "", email: str = "", reason: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < SKIPPED_LIST_MAX:
            self.skipped.append({"name": name, "phone": phone, "email": email, "reason": reason})


def _group_named(tenant: Tenant, name: str) -> Group | None:
    # Through the (tenant, lower(name)) unique index, as contacts.services looks names up.
    return (
        Group.objects.annotate(lower_name=Lower("name"))
        .filter(tenant=tenant, lower_name=name.lower())
        .first()
    )


def group_members(tenant: Tenant, name: str) -> QuerySet[Contact]:
    """The contacts `name` stands for: a group of the tenant (a system group, a class, a custom
    group), or "Parents of <group>": the guardians of that group's members. A system group the
    tenant has not filled yet has no members; any other unknown name is an error."""
    name = " ".join(name.split())
    group = _group_named(tenant, name)
    if group is not None:
        return Contact.objects.filter(tenant=tenant, groups=group)
    if name.lower().startswith(PARENTS_OF.lower()):
        wards_group = _group_named(tenant, name[len(PARENTS_OF) :].strip())
        if wards_group is not None:
            return Contact.objects.filter(tenant=tenant, wards__groups=wards_group).distinct()
    if name.lower() in {system.lower() for system in SYSTEM_GROUP_NAMES}:
        return Contact.objects.none()
    raise ApplicationError(
        f"There is no recipient group named {name!r}.",
        error_code="unknown_recipient_group",
        details={
            "recipient_group": [
                f"No group named {name!r}: use one of /api/communications/recipient-groups/."
            ]
        },
    )


def parse_custom_recipients(text: str) -> list[str]:
    return [entry.strip() for entry in _SEPARATORS.split(text or "") if entry.strip()]


@dataclass
class _Entries:
    phones: dict[str, str] = field(default_factory=dict)  # E.164 -> as typed
    emails: dict[str, str] = field(default_factory=dict)  # lower-cased -> as typed
    unmatchable: list[tuple[str, str]] = field(default_factory=list)  # (as typed, why)
    invalid: list[str] = field(default_factory=list)  # "entry: why"


def _read_entries(tenant: Tenant, entries: list[str], method: str) -> _Entries:
    read = _Entries()
    for entry in entries:
        if "@" in entry:
            try:
                validate_email(entry)
            except ValidationError:
                read.invalid.append(f"{entry}: not a valid e-mail address")
                continue
            read.emails.setdefault(entry.lower(), entry)
            continue
        try:
            read.phones.setdefault(normalize_phone(entry, tenant.default_region), entry)
        except InvalidPhone as error:
            digits = sum(ch.isdigit() for ch in entry)
            if method == DeliveryMethod.EMAIL and _PHONE_LIKE.match(entry) and digits >= 7:
                # In an e-mail message a number only names a contact whose address is used;
                # a number no phone can have names nobody. Reported, not sent to.
                read.unmatchable.append((entry, f"no contact has this number ({error})"))
            else:
                read.invalid.append(f"{entry}: {error}")
    return read


def _contacts_by(tenant: Tenant, *, phones=(), emails=()) -> tuple[dict, dict]:
    """The tenant's contacts with these numbers, and with these addresses (lower-cased)."""
    by_phone: dict[str, dict] = {}
    by_email: dict[str, dict] = {}
    phones, emails = list(phones), list(emails)
    for start in range(0, len(phones), 1000):
        for row in Contact.objects.filter(
            tenant=tenant, phone_e164__in=phones[start : start + 1000]
        ).values(*_CONTACT_FIELDS):
            by_phone[row["phone_e164"]] = row
    for start in range(0, len(emails), 1000):
        rows = (
            Contact.objects.annotate(lower_email=Lower("email"))
            .filter(tenant=tenant, lower_email__in=emails[start : start + 1000])
            .order_by("created_at")
            .values(*_CONTACT_FIELDS, "lower_email")
        )
        for row in rows:
            by_email.setdefault(row["lower_email"], row)
    return by_phone, by_email


def audience_resolve(
    *, tenant: Tenant, delivery_method: str, recipient_group: str, custom_recipients: str
) -> Audience:
    """Everyone the message is for, each once, by the address this kind of message needs.

    Raises ApplicationError (400) for an unknown group and for custom entries that are neither
    an e-mail address nor a phone number, listing every bad entry."""
    entries = parse_custom_recipients(custom_recipients)
    limit = settings.SMS_BULK_SEND_MAX_RECIPIENTS
    if len(entries) > limit:
        raise ApplicationError(
            f"custom_recipients has {len(entries)} entries; the most is {limit}.",
            error_code="too_many_recipients",
            details={"custom_recipients": [f"At most {limit} entries; use a group."]},
        )
    read = _read_entries(tenant, entries, delivery_method)
    if read.invalid:
        raise ApplicationError(
            f"custom_recipients has {len(read.invalid)} invalid "
            f"{'entry' if len(read.invalid) == 1 else 'entries'}: {'; '.join(read.invalid)}",
            error_code="invalid_recipients",
            details={"custom_recipients": read.invalid},
        )
    members = (
        list(group_members(tenant, recipient_group).values(*_CONTACT_FIELDS))
        if recipient_group.strip()
        else []
    )
    by_phone, by_email = _contacts_by(tenant, phones=read.phones, emails=read.emails)

    email = delivery_method == DeliveryMethod.EMAIL
    audience = Audience()
    seen: set[str] = set()  # addresses (lower-cased) and contact ids already placed
    skipped: set[str] = set()

    def place(contact: dict | None, *, address: str) -> None:
        key = str(contact["id"]) if contact else address.lower()
        if key in seen or key in skipped:
            return
        if contact is not None:
            reason = ""
            if contact["opted_out_at"] is not None:
                reason = "opted out of messages"
            elif not contact["is_active"]:
                reason = "inactive contact"
            elif not address:
                reason = "no e-mail address" if email else "no phone number"
            if reason:
                skipped.add(key)
                audience.skip(
                    name=contact["name"],
                    phone=contact["phone_e164"],
                    email=contact["email"],
                    reason=reason,
                )
                return
        if address.lower() in seen:  # two contacts sharing one e-mail address
            return
        seen.update({key, address.lower()})
        audience.addresses.append((address, contact["id"] if contact else None))

    for contact in members:
        place(contact, address=contact["email"] if email else contact["phone_e164"])
    for e164 in read.phones:
        contact = by_phone.get(e164)
        if not email:
            place(contact, address=e164)
        elif contact is not None:
            place(contact, address=contact["email"])
        else:
            audience.skip(phone=e164, reason="no contact with an e-mail address has this number")
    for lowered, typed in read.emails.items():
        contact = by_email.get(lowered)
        if email:
            place(contact, address=_normal_email(typed))
        elif contact is not None:
            place(contact, address=contact["phone_e164"])
        else:
            audience.skip(email=typed, reason="no contact with a phone number has this address")
    for typed, reason in read.unmatchable:
        audience.skip(phone=typed, reason=reason)
    return audience


def _normal_email(address: str) -> str:
    """The domain lower-cased (it is case-insensitive; the local part may not be)."""
    local, _, domain = address.strip().rpartition("@")
    return f"{local}@{domain.lower()}"


def recipient_groups(tenant: Tenant) -> list[dict]:
    """What recipient_group may name, with member counts: the four system groups (present or
    not), each class and its parents, then custom groups. Three queries."""
    counted = {
        "member_count": Count("contacts"),
        "email_count": Count("contacts", filter=~Q(contacts__email="")),
    }
    groups = list(Group.objects.filter(tenant=tenant).annotate(**counted).order_by("name"))
    # Guardians of each class's students, each counted once however many children they have.
    links = Contact.groups.through.objects.filter(group__tenant=tenant, group__kind=GroupKind.CLASS)
    parents = {
        row["group_id"]: row
        for row in links.values("group_id").annotate(
            member_count=Count("contact__guardians", distinct=True),
            email_count=Count(
                "contact__guardians", distinct=True, filter=~Q(contact__guardians__email="")
            ),
        )
    }

    def entry(name, kind, group_id, member_count, email_count) -> dict:
        return {
            "name": name,
            "kind": kind,
            "group_id": group_id,
            "member_count": member_count,
            "email_count": email_count,
        }

    by_name = {group.name.lower(): group for group in groups}
    listed = []
    for name in SYSTEM_GROUP_NAMES:
        group = by_name.get(name.lower())
        listed.append(
            entry(name, GroupKind.SYSTEM, group.pk, group.member_count, group.email_count)
            if group
            else entry(name, GroupKind.SYSTEM, None, 0, 0)
        )
    system = {name.lower() for name in SYSTEM_GROUP_NAMES}
    classes = [g for g in groups if g.kind == GroupKind.CLASS]
    for group in classes:
        listed.append(
            entry(group.name, group.kind, group.pk, group.member_count, group.email_count)
        )
    for group in classes:
        counts = parents.get(group.pk, {"member_count": 0, "email_count": 0})
        listed.append(
            entry(
                f"{PARENTS_OF}{group.name}",
                "parents",
                None,
                counts["member_count"],
                counts["email_count"],
            )
        )
    for group in groups:
        if group.kind == GroupKind.CUSTOM and group.name.lower() not in system:
            listed.append(
                entry(group.name, group.kind, group.pk, group.member_count, group.email_count)
            )
    return listed
