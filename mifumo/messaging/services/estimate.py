"""What a send would cost before it is made: segments per personalised message, the price by
destination, the balance after, and the characters that make a text UCS-2.

A read: nothing is written, reserved or queued. A recipient that a send would refuse (an
invalid number, an opted-out contact, a country outside the tenant's, a variable without a
value) is listed under `errors` and not counted, so the figures are those of the send that
would follow. A row whose number is a saved contact's is personalised with that contact's
name and attributes, as a send does.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings

from mifumo.contacts.models import Contact, Group
from mifumo.contacts.phones import InvalidPhone, normalize_phone
from mifumo.delivery.models import Channel
from mifumo.delivery.segments import (
    GSM7_SINGLE,
    UCS2_SINGLE,
    ForcingCharacter,
    SegmentCount,
    count_segments,
)
from mifumo.messaging.models import CreditAccount, Template
from mifumo.messaging.pricing import calling_code_regions, quote, region_of
from mifumo.messaging.templating import (
    CompiledTemplate,
    MissingVariable,
    TemplateSyntaxError,
    compile_template,
    contact_context,
    variable_key,
)
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.models import Tenant
from mifumo.tenancy.scoping import get_for_tenant_or_404

ENCODING_NAMES = {"gsm7": "GSM-7", "ucs2": "UCS-2"}
LOOKUP_BATCH = 2000  # numbers per IN (...) query: under SQLite's variable limit
_CONTACT_FIELDS = ("id", "name", "phone_e164", "email", "attributes", "opted_out_at")
_ROW_FIELDS = {"phone", "name", "email"}


@dataclass(slots=True)
class _Recipient:
    phone: str  # as given (rows) or E.164 (contacts)
    name: str = ""
    email: str = ""
    attributes: Mapping[str, object] | None = None
    extra: Mapping[str, object] | None = None
    contact_id: uuid.UUID | None = None
    opted_out: bool = False
    e164: str = ""  # once normalised


@dataclass
class Estimate:
    encoding: str
    characters: int
    segments: int
    recipients: int
    total_segments: int
    cost: Decimal
    billing_enabled: bool
    balance: Decimal | None
    balance_after: Decimal | None
    missing_variables: list[str] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


def _text_of(tenant: Tenant, message: str | None, template_id: uuid.UUID | None) -> str:
    if message is not None:
        return message
    template = get_for_tenant_or_404(Template, tenant, pk=template_id)
    if template.channel != Channel.SMS:
        raise ApplicationError(
            "This is an e-mail template; an SMS estimate needs an SMS template.",
            error_code="validation_error",
            details={"template_id": ["Not an SMS template."]},
        )
    return template.body


def _contacts_by_id(tenant: Tenant, contact_ids: Sequence[uuid.UUID]) -> list[_Recipient]:
    rows = {
        row["id"]: row
        for row in Contact.objects.filter(tenant=tenant, pk__in=contact_ids).values(
            *_CONTACT_FIELDS
        )
    }
    missing = [str(cid) for cid in contact_ids if cid not in rows]
    if missing:
        raise ApplicationError(
            f"Some contacts not found: {missing}",
            error_code="contacts_not_found",
            status_code=404,
            details={"missing_ids": missing},
        )
    return [_from_contact(rows[cid]) for cid in contact_ids]


def _group_members(tenant: Tenant, group_id: uuid.UUID, limit: int) -> list[_Recipient]:
    group = get_for_tenant_or_404(Group, tenant, pk=group_id)
    members = Contact.objects.filter(tenant=tenant, groups=group).order_by("name", "id")
    count = members.count()
    if count > limit:
        raise _too_many(count, limit)
    return [_from_contact(row) for row in members.values(*_CONTACT_FIELDS)]


def _from_contact(row: dict) -> _Recipient:
    return _Recipient(
        phone=row["phone_e164"],
        name=row["name"],
        email=row["email"],
        attributes=row["attributes"],
        contact_id=row["id"],
        opted_out=row["opted_out_at"] is not None,
        e164=row["phone_e164"],
    )


def _from_row(row: Mapping[str, object]) -> _Recipient:
    name, email = row.get("name"), row.get("email")
    return _Recipient(
        phone="" if row.get("phone") is None else str(row.get("phone")),
        name="" if name is None else str(name),
        email="" if email is None else str(email),
        extra={key: value for key, value in row.items() if key not in _ROW_FIELDS},
    )


def _attach_stored_contacts(tenant: Tenant, recipients: Sequence[_Recipient]) -> None:
    """Rows whose number is a saved contact's get its name (unless the row gives one),
    e-mail, attributes and opt-out, as a send gives them: one query per LOOKUP_BATCH."""
    by_phone = {recipient.e164: recipient for recipient in recipients}
    phones = list(by_phone)
    for start in range(0, len(phones), LOOKUP_BATCH):
        rows = Contact.objects.filter(
            tenant=tenant, phone_e164__in=phones[start : start + LOOKUP_BATCH]
        ).values(*_CONTACT_FIELDS)
        for row in rows:
            recipient = by_phone[row["phone_e164"]]
            recipient.contact_id = row["id"]
            recipient.name = recipient.name or row["name"]
            recipient.email = recipient.email or row["email"]
            recipient.attributes = row["attributes"]
            recipient.opted_out = row["opted_out_at"] is not None


def _outside_allowed_countries(e164: str, allowed: set[str]) -> str | None:
    # The send's rule: a calling code of one country outside the tenant's countries is
    # refused up front; shared codes (+1, +7) are left to the engine's exact check.
    region = region_of(e164)
    if allowed and region and region not in allowed and calling_code_regions(e164) == 1:
        return f"{e164} is outside the organisation's allowed countries ({region})"
    return None


def _too_many(count: int, limit: int) -> ApplicationError:
    return ApplicationError(
        f"At most {limit} recipients per send; this one has {count}.",
        error_code="too_many_recipients",
        details={"recipients": count, "limit": limit},
    )


def _warning_for(character: ForcingCharacter) -> dict[str, Any]:
    return {
        "source": "text",
        "character": character.character,
        "name": character.name,
        "codepoint": f"U+{ord(character.character):04X}",
        "position": character.position,
        "column": character.position + 1,
        "message": (
            f"{character.name} at position {character.position} makes this message UCS-2 "
            f"({UCS2_SINGLE} characters per segment instead of {GSM7_SINGLE})"
        ),
    }


def _text_warnings(compiled: CompiledTemplate) -> tuple[list[dict[str, Any]], set[str]]:
    """The characters of the text as written that force UCS-2, by position. Characters of a
    variable's name are not sent, so they are left out; a default's are."""
    names = [(slot.start, slot.name_end) for slot in compiled.slots]
    forcing = [
        character
        for character in count_segments(compiled.text).ucs2_characters
        if not any(start <= character.position < end for start, end in names)
    ]
    return [_warning_for(c) for c in forcing], {c.character for c in forcing}


def _variable_warnings(counter: Counter[str]) -> list[dict[str, Any]]:
    """Characters that come from recipients' values (a name like "Zoë"), not from the text:
    no position to point at, so the number of messages they turn UCS-2."""
    warnings = []
    for character, recipients in counter.most_common():
        name = unicodedata.name(character, f"U+{ord(character):04X}")
        messages = "1 message" if recipients == 1 else f"{recipients} messages"
        warnings.append(
            {
                "source": "variables",
                "character": character,
                "name": name,
                "codepoint": f"U+{ord(character):04X}",
                "recipients": recipients,
                "message": (
                    f"{name} in recipients' values makes {messages} UCS-2 "
                    f"({UCS2_SINGLE} characters per segment instead of {GSM7_SINGLE})"
                ),
            }
        )
    return warnings


def _merge_defaults(context: dict[str, object], defaults: Mapping[str, object]) -> None:
    """Fill the recipient's blanks with the request's variables."""
    for key, value in defaults.items():
        current = context.get(key)
        if current is None or (isinstance(current, str) and not current.strip()):
            context[key] = value


def _balance(tenant: Tenant) -> Decimal:
    balance = CreditAccount.objects.filter(tenant=tenant).values_list("balance", flat=True).first()
    return balance if balance is not None else Decimal("0")


def sms_estimate(
    *,
    tenant: Tenant,
    message: str | None = None,
    template_id: uuid.UUID | None = None,
    contacts: Sequence[Mapping[str, object]] | None = None,
    contact_ids: Sequence[uuid.UUID] | None = None,
    group_id: uuid.UUID | None = None,
    variables: Mapping[str, object] | None = None,
) -> Estimate:
    """Figures for `message` (or the tenant's template) sent to the recipients given as rows
    (`contacts`), contact ids and/or a group's members. Without any recipient, the figures
    of the text alone (its variables filled from `variables` or their defaults).

    Raises ApplicationError: 404 for another tenant's template, group or contacts; 400 when
    recipients were given and none of them could receive the message, or over the limit.
    """
    limit = settings.SMS_BULK_SEND_MAX_RECIPIENTS
    try:
        compiled = compile_template(_text_of(tenant, message, template_id))
    except TemplateSyntaxError as error:  # a template saved before its syntax was checked
        raise ApplicationError(
            str(error), error_code="validation_error", details={"template_id": [str(error)]}
        ) from None
    defaults = {variable_key(key): value for key, value in (variables or {}).items()}

    recipients: list[_Recipient] = [_from_row(row) for row in contacts or ()]
    if contact_ids:
        recipients += _contacts_by_id(tenant, contact_ids)
    if group_id is not None:
        recipients += _group_members(tenant, group_id, limit)
    given = contacts is not None or contact_ids is not None or group_id is not None

    errors: list[dict[str, Any]] = []
    unique: list[_Recipient] = []
    seen: set[str] = set()
    for recipient in recipients:
        if not recipient.e164:
            try:
                recipient.e164 = normalize_phone(recipient.phone, tenant.default_region)
            except InvalidPhone as invalid:
                errors.append({"phone": recipient.phone, "reason": str(invalid)})
                continue
        if recipient.e164 not in seen:  # the same number twice is one message
            seen.add(recipient.e164)
            unique.append(recipient)
    if len(unique) > limit:
        raise _too_many(len(unique), limit)
    _attach_stored_contacts(tenant, [r for r in unique if r.contact_id is None])

    warnings, text_forcing = _text_warnings(compiled)
    allowed = set(tenant.allowed_regions)
    pairs: list[tuple[str, int]] = []
    first: SegmentCount | None = None
    missing: set[str] = set()
    variable_forcing: Counter[str] = Counter()
    counts: dict[str, SegmentCount] = {}  # the same text (no variables, or same values) once
    for recipient in unique:
        e164 = recipient.e164
        error: dict[str, Any] = {"phone": recipient.phone}
        if recipient.contact_id is not None:
            error["contact_id"] = str(recipient.contact_id)
        if recipient.opted_out:
            errors.append({**error, "reason": "The contact has opted out of messages."})
            continue
        outside = _outside_allowed_countries(e164, allowed)
        if outside:
            errors.append({**error, "reason": outside})
            continue
        context = contact_context(
            name=recipient.name,
            phone=e164,
            email=recipient.email,
            attributes=recipient.attributes,
            extra=recipient.extra,
        )
        _merge_defaults(context, defaults)
        try:
            text = compiled.render(context)
        except MissingVariable as absent:
            missing.add(absent.name)
            errors.append(
                {**error, "reason": f"No value for {{{{{absent.name}}}}}", "variable": absent.name}
            )
            continue
        if not text.strip():
            errors.append({**error, "reason": "The message is empty."})
            continue
        count = counts.get(text)
        if count is None:
            if len(counts) >= 1000:  # personalised texts rarely repeat: keep memory bounded
                counts.clear()
            count = counts[text] = count_segments(text)
        if count.ucs2_characters:
            variable_forcing.update({c.character for c in count.ucs2_characters} - text_forcing)
        first = first or count
        pairs.append((e164, count.segments))

    if given and not pairs:
        raise ApplicationError(
            "None of the recipients can receive this message.",
            error_code="no_recipients",
            details={"errors": errors[:100]},
        )
    if first is None:  # no recipients: the text itself, defaults and `variables` filled in
        text, missing_here = compiled.render_partial(contact_context(extra=defaults))
        first = count_segments(text)
        missing.update(missing_here)

    priced = quote(pairs)
    billing = settings.BILLING_ENABLED
    balance = _balance(tenant) if billing else None
    return Estimate(
        encoding=ENCODING_NAMES[first.encoding],
        characters=first.characters,
        segments=first.segments,
        recipients=priced.messages,
        total_segments=priced.segments,
        cost=priced.cost,
        billing_enabled=billing,
        balance=balance,
        balance_after=balance - priced.cost if balance is not None else None,
        missing_variables=sorted(missing),
        warnings=warnings + _variable_warnings(variable_forcing),
        errors=errors,
    )
