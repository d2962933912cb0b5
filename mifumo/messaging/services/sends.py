"""Bulk sends: validate, personalise and price every recipient, then hand the campaign to the
delivery engine — all inside one request, for up to 10,000 recipients.

Speed matters here (p50 ≤ 300 ms for 10,000 on PostgreSQL), so recipients are plain dicts and
tuples, never one serializer or model object each: phone numbers go through the fast path of
normalize_phone, the template is compiled once, stored contacts are read with one query per
2,000 numbers, and the messages are written by one statement (delivery's
campaign_add_recipients).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import psycopg
from django.db import connection, transaction

from mifumo.contacts.models import Contact
from mifumo.contacts.phones import InvalidPhone, normalize_phone, valid_as_written
from mifumo.delivery import services as delivery
from mifumo.delivery.models import Campaign, Channel
from mifumo.delivery.segments import SegmentCount, count_segments
from mifumo.messaging import pricing
from mifumo.messaging.models import Template
from mifumo.messaging.services import billing
from mifumo.messaging.services.sender_ids import sender_id_resolve
from mifumo.messaging.templating import (
    CompiledTemplate,
    MissingVariable,
    TemplateSyntaxError,
    compile_template,
    contact_context,
    spoken_name,
)
from mifumo.tenancy import audit
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.models import AuditAction, Tenant, User

LOOKUP_BATCH = 2000
# Keys of a recipient object that are not template variables.
_RECIPIENT_KEYS = {"phone", "name"}


@dataclass(slots=True)  # one per recipient: slots make them cheaper to build
class RecipientInput:
    """One recipient as the caller gave it: a bulk-send contact object or an upload row."""

    label: str  # how errors name it: the phone as given, or "Row 5"
    phone: object
    name: str = ""
    message: str = ""  # an upload row's own text (column C)
    variables: Mapping[str, object] | None = None


@dataclass(slots=True)
class RecipientResult:
    phone: str
    success: bool
    message_id: str | None = None
    error: str = ""
    duplicate: bool = False
    invalid_phone: bool = False

    def as_dict(self) -> dict:
        if self.success:
            result = {"phone": self.phone, "success": True, "message_id": str(self.message_id)}
            if self.duplicate:
                result["duplicate"] = True
            return result
        result = {"phone": self.phone, "success": False, "error": self.error}
        if self.message_id:
            result["message_id"] = str(self.message_id)
        return result


@dataclass
class SendOutcome:
    campaign: Campaign | None
    results: list[RecipientResult]
    cost: Decimal = Decimal("0")

    @property
    def successful(self) -> int:
        return sum(1 for result in self.results if result.success)


def _template_text(message: str, template: Template | None) -> str:
    if message:
        return message
    if template is not None:
        return template.body
    return ""


def _compile(text: str, where: str) -> CompiledTemplate:
    try:
        return compile_template(text)
    except TemplateSyntaxError as error:
        raise ApplicationError(
            str(error), error_code="invalid_template", details={where: str(error)}
        ) from None


def _stored_contacts(tenant: Tenant, phones: Sequence[str]) -> dict[str, dict]:
    """The tenant's contacts with these numbers: their id, name, e-mail, attributes and
    whether they opted out. On PostgreSQL one query with the numbers as one array parameter
    (Django would quote 10,000 strings into the SQL text); elsewhere LOOKUP_BATCH at a time."""
    fields = ("id", "phone_e164", "name", "email", "attributes", "opted_out_at")
    if connection.vendor == "postgresql":
        table = Contact._meta.db_table
        sql = (
            f"SELECT id, phone_e164, name, email, attributes, opted_out_at FROM {table} "  # noqa: S608
            # One text parameter split by the server: adapting a list of 10,000 strings
            # into an array parameter costs more in Python than the query.
            "WHERE tenant_id = %s AND phone_e164 = ANY(string_to_array(%s, ','))"
        )
        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(sql, [tenant.pk, ",".join(phones)])
            found = {row[1]: dict(zip(fields, row, strict=True)) for row in cursor.fetchall()}
        for row in found.values():
            # Django's connection loads jsonb as text and decodes it in the ORM.
            if isinstance(row["attributes"], str):
                row["attributes"] = json.loads(row["attributes"])
        return found
    found: dict[str, dict] = {}
    for start in range(0, len(phones), LOOKUP_BATCH):
        rows = Contact.objects.filter(
            tenant=tenant, phone_e164__in=phones[start : start + LOOKUP_BATCH]
        ).values(*fields)
        for row in rows:
            found[row["phone_e164"]] = row
    return found


def sms_send(
    *,
    tenant: Tenant,
    created_by: User | None,
    recipients: Sequence[RecipientInput],
    message: str = "",
    template: Template | None = None,
    sender_id: str = "",
    schedule_at: datetime | None = None,
    campaign: Campaign | None = None,
    origin: str = "bulk_send",
    name: str = "",
) -> SendOutcome:
    """Queue one personalised SMS per distinct valid recipient (in the caller's transaction;
    dispatch starts when it commits). Recipients that cannot be sent get a result saying why;
    when none can, nothing is written and ApplicationError says why."""
    sender = sender_id_resolve(tenant=tenant, requested=sender_id)
    default_text = _template_text(message, template)
    default_template = _compile(default_text, "message") if default_text else None
    if default_template is None and not any(r.message for r in recipients):
        raise ApplicationError(
            "A message or a template is required.",
            error_code="validation_error",
            details={"message": "Give the text to send, or a template_id."},
        )
    if campaign is not None and campaign.tenant_id != tenant.pk:
        raise ApplicationError("Campaign not found.", error_code="not_found", status_code=404)

    results: list[RecipientResult] = []
    first_seen: dict[str, int] = {}  # E.164 -> index of the result that sends to it
    valid: list[tuple[int, str, RecipientInput]] = []
    duplicates: list[tuple[int, int]] = []  # (its result, the first one's result)
    region = tenant.default_region
    # Most numbers of a big send are written in E.164 already: checked all at once.
    e164_as_given = valid_as_written([recipient.phone for recipient in recipients], region)
    for recipient in recipients:
        phone = recipient.phone
        shown = str(phone if phone is not None else "")
        try:
            if phone.__class__ is str and phone in e164_as_given:
                e164 = phone
            else:
                e164 = normalize_phone(phone, region)
        except InvalidPhone as error:
            error_text = f"{recipient_prefix(recipient)}{error}"
            results.append(RecipientResult(shown, False, error=error_text, invalid_phone=True))
            continue
        if e164 in first_seen:
            duplicates.append((len(results), first_seen[e164]))
            results.append(RecipientResult(shown, False, duplicate=True))
            continue
        first_seen[e164] = len(results)
        results.append(RecipientResult(shown, False))
        valid.append((len(results) - 1, e164, recipient))

    stored = _stored_contacts(tenant, [e164 for _, e164, _ in valid])
    allowed = set(tenant.allowed_regions)
    message_cost = pricing.price_by_number()
    refused_region: dict[str, str] = {}  # calling-code prefix -> region refused, or ""
    planned: list[tuple[int, delivery.Recipient]] = []
    plain_counts: dict[str, SegmentCount] = {}  # texts without variables, counted once

    def plan() -> Iterator[delivery.Recipient]:
        """The messages to write, made as the writer asks for them (it writes each thousand
        while the next is rendered); `planned` remembers whose result each one is."""
        for index, e164, recipient in valid:
            contact = stored.get(e164)
            result = results[index]
            if contact is not None and contact["opted_out_at"] is not None:
                result.error = f"{recipient_prefix(recipient)}The contact has opted out of messages"
                continue
            prefix = e164[:4]  # "+" and the longest calling code decide the country
            if prefix not in refused_region:
                region_code = pricing.region_of(e164)
                outside = allowed and region_code and region_code not in allowed
                refused_region[prefix] = region_code if outside and _single_region(e164) else ""
            if refused_region[prefix]:
                result.error = (
                    f"{recipient_prefix(recipient)}{e164} is outside the organisation's allowed "
                    f"countries ({refused_region[prefix]})"
                )
                continue
            try:
                compiled = compile_template(recipient.message) if recipient.message else None
            except TemplateSyntaxError as error:
                result.error = f"{recipient_prefix(recipient)}{error}"
                continue
            compiled = compiled or default_template
            if compiled is None:
                result.error = f"{recipient_prefix(recipient)}No message and no template"
                continue
            try:
                body = (
                    compiled.render(_context(recipient, contact, e164, compiled.variables))
                    if compiled.variables
                    else compiled.text
                )
            except MissingVariable as missing:
                result.error = (
                    f"{recipient_prefix(recipient)}The message needs {{{{{missing.name}}}}}, which "
                    "this recipient does not have (write a default: {{" + missing.name + "|…}})"
                )
                continue
            if not body.strip():
                result.error = f"{recipient_prefix(recipient)}The message is empty"
                continue
            if compiled.variables:
                count = count_segments(body)
            else:
                count = plain_counts.get(body) or plain_counts.setdefault(
                    body, count_segments(body)
                )
            cost = message_cost(e164, count.segments)
            message = delivery.Recipient(
                to=e164,
                body=body,
                contact_id=contact["id"] if contact else None,
                cost=cost,
                segments=count.segments,
                encoding=count.encoding,
            )
            planned.append((index, message))
            yield message

    with transaction.atomic():
        if campaign is None:
            campaign = delivery.campaign_open(
                tenant=tenant,
                created_by=created_by,
                channel=Channel.SMS,
                sender_id=sender,
                body=default_text,
                name=name,
                origin=origin,
                scheduled_at=schedule_at,
            )
        ids = delivery.campaign_add_recipients(campaign=campaign, recipients=plan())
        if not planned:  # the campaign just opened is rolled back
            _copy_to_duplicates(results, duplicates)
            reasons = [result.error for result in results if result.error]
            raise NoValidRecipients(reasons[0] if reasons else "No recipients were given.", results)
        charged = Decimal("0")
        for index, recipient in planned:
            message_id = ids.get(recipient.to)
            result = results[index]
            if message_id is None:
                result.error = "This number already has a message in this campaign"
                continue
            result.success, result.message_id = True, message_id
            charged += recipient.cost or 0
        if billing.billing_enabled() and charged:
            billing.credit_reserve(
                tenant=tenant, campaign=campaign, cost=charged, created_by=created_by
            )
        _copy_to_duplicates(results, duplicates)
        if origin == "bulk_send":  # an upload records itself once, for the whole file
            accepted = sum(1 for result in results if result.success)
            audit.record(
                tenant=tenant,
                action=AuditAction.SMS_BULK_SEND,
                object_ids=[campaign.pk],
                counts={
                    "total": len(results),
                    "accepted": accepted,
                    "refused": len(results) - accepted,
                    "messages": len(ids),
                },
                user=created_by,
            )
    return SendOutcome(campaign=campaign, results=results, cost=charged)


def _copy_to_duplicates(results: list[RecipientResult], duplicates: list[tuple[int, int]]) -> None:
    """The same number twice is one message: the repeat shows the first one's outcome."""
    for index, first in duplicates:
        original = results[first]
        results[index].success = original.success
        results[index].message_id = original.message_id
        results[index].error = original.error
        results[index].invalid_phone = original.invalid_phone


class NoValidRecipients(ApplicationError):
    """Nothing could be sent; the per-recipient results say why."""

    def __init__(self, reason: str, results: list[RecipientResult]) -> None:
        super().__init__(
            f"No valid recipients: {reason}" if results else reason,
            error_code="no_valid_recipients",
        )
        self.results = results


def recipient_prefix(recipient: RecipientInput) -> str:
    """Upload rows name themselves ("Row 5: "); bulk-send results sit beside their phone."""
    return f"{recipient.label}: " if recipient.label.startswith("Row ") else ""


# The variables of the commonest personalised text ("Habari {{name}}").
_NAME_ONLY = frozenset({"name"})


def _context(
    recipient: RecipientInput, contact: dict | None, e164: str, variables: frozenset[str]
) -> Mapping[str, object]:
    if (
        variables == _NAME_ONLY
        and not recipient.variables
        and not (contact and contact["attributes"])
    ):
        # With no attributes or columns that could name themselves "name", the one value
        # contact_context() would give the text, without building the other four (a tenth of
        # a 10,000-recipient send's Python).
        return {"name": spoken_name(recipient.name or (contact["name"] if contact else ""))}
    return contact_context(
        name=recipient.name or (contact["name"] if contact else ""),
        phone=e164,
        email=contact["email"] if contact else "",
        attributes=contact["attributes"] if contact else None,
        extra=recipient.variables,
    )


def _single_region(e164: str) -> bool:
    """Whether the calling code belongs to one country (+255) rather than several (+1, +7):
    only then does the prefix alone say which country the number is in. Shared codes are
    checked exactly by the engine before sending."""
    return pricing.calling_code_regions(e164) == 1
