"""Compose: choose recipients (groups, tags, contacts, or a spreadsheet of numbers), write the
text or pick a template with a live count of characters, segments and encoding, then send now,
schedule in the organisation's timezone, or send one test message first.

The figures come from messaging's estimate service and the sends from sms_send and
sms_bulk_upload: the same code as the API's, so the page and the API never disagree.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Model, Q, QuerySet
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import localtime, now
from django.views.decorators.http import require_POST

from mifumo.contacts.filters import ContactFilter, NameSearchPaginator
from mifumo.contacts.models import Contact, Group, Tag
from mifumo.delivery.models import Campaign, Channel
from mifumo.delivery.segments import GSM7_SINGLE, UCS2_SINGLE
from mifumo.messaging.models import SenderId, SenderIdStatus, Template
from mifumo.messaging.services.estimate import Estimate, sms_estimate
from mifumo.messaging.services.sender_ids import default_sender_id
from mifumo.messaging.services.sends import NoValidRecipients, RecipientInput, sms_send
from mifumo.messaging.services.uploads import sms_bulk_upload
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.models import Tenant
from mifumo.tenancy.scoping import for_tenant, get_for_tenant_or_404
from mifumo.web.access import tenant_page

# A schedule a minute in the past is "now" (the time it took to fill the form), as in the API.
SCHEDULE_GRACE = timedelta(seconds=60)
FAILURES_SHOWN = 100  # per-recipient reasons kept for the campaign page after a send
SEARCH_RESULTS = 10


def report_key(campaign_id) -> str:
    """Where a send leaves its per-recipient failures for the campaign page to show once."""
    return f"web:send-report:{campaign_id}"


# --- recipients ------------------------------------------------------------------------------


@dataclass
class Audience:
    """The groups, tags and contacts chosen, each loaded through the tenant."""

    groups: list[Group] = field(default_factory=list)
    tags: list[Tag] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.groups or self.tags or self.contacts)

    def members(self, tenant: Tenant) -> QuerySet[Contact]:
        """Every contact in a chosen group, with a chosen tag, or chosen: each once."""
        condition = Q(pk__in=[contact.pk for contact in self.contacts])
        if self.groups:
            condition |= Q(
                pk__in=Contact.groups.through.objects.filter(group__in=self.groups).values(
                    "contact_id"
                )
            )
        if self.tags:
            condition |= Q(
                pk__in=Contact.tags.through.objects.filter(tag__in=self.tags).values("contact_id")
            )
        return Contact.objects.filter(tenant=tenant).filter(condition).order_by("name", "id")

    def name(self) -> str:
        """The campaign's name: what it was sent to."""
        parts = [group.name for group in self.groups] + [f"#{tag.name}" for tag in self.tags]
        if len(self.contacts) == 1:
            parts.append(self.contacts[0].name or self.contacts[0].phone_e164)
        elif self.contacts:
            parts.append(f"{len(self.contacts)} contacts")
        return ", ".join(parts)[:200]


def _load(model: type[Model], tenant: Tenant, raw_ids: list[str]) -> list:
    """The tenant's rows with these ids, in the order given; any other id is a 404."""
    ids = []
    for raw in raw_ids:
        if not raw:
            continue
        try:
            ids.append(model._meta.pk.to_python(raw))
        except ValidationError:
            raise Http404 from None
    rows = {row.pk: row for row in for_tenant(model, tenant).filter(pk__in=ids)}
    if any(pk not in rows for pk in ids):
        raise Http404
    return [rows[pk] for pk in dict.fromkeys(ids)]


def _audience(request, data) -> Audience:
    """From the form (groups, tags, contacts) or a link (?group=, ?tag=, ?contact=)."""
    tenant = request.tenant
    return Audience(
        groups=_load(Group, tenant, data.getlist("groups") + data.getlist("group")),
        tags=_load(Tag, tenant, data.getlist("tags") + data.getlist("tag")),
        contacts=_load(Contact, tenant, data.getlist("contacts") + data.getlist("contact")),
    )


def _too_many(count: int, limit: int) -> str:
    return (
        f"At most {limit:,} recipients per send; these have {count:,}. Send to fewer groups "
        "at a time, or upload a spreadsheet."
    )


# --- the form --------------------------------------------------------------------------------


def _sender_choices(tenant: Tenant) -> list[tuple[str, str]]:
    default = default_sender_id(tenant)
    choices = [("", f"{default} (default)" if default else "The default sender id")]
    approved = SenderId.objects.filter(tenant=tenant, status=SenderIdStatus.APPROVED)
    for value in approved.order_by("value").values_list("value", flat=True):
        if value != default:
            choices.append((value, value))
    return choices


def parse_schedule(value: str, timezone_name: str) -> datetime:
    """A datetime-local value ("2026-05-01T08:30") read as a time in the organisation's zone."""
    try:
        naive = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError("Give a date and a time, such as 2026-05-01 08:30.") from None
    if naive.tzinfo is not None:
        raise ValidationError("Give the time without a zone: it is read in the organisation's.")
    at = naive.replace(tzinfo=ZoneInfo(timezone_name))
    if at < now() - SCHEDULE_GRACE:
        shown = localtime(now(), ZoneInfo(timezone_name)).strftime("%d %b %Y %H:%M")
        raise ValidationError(
            f"That time has passed (it is {shown} in {timezone_name}); choose a later one "
            "or send now."
        )
    return at


class ComposeForm(forms.Form):
    audience = forms.ChoiceField(
        label="Send to",
        choices=[("contacts", "Groups, tags and contacts"), ("sheet", "A spreadsheet of numbers")],
        initial="contacts",
        widget=forms.RadioSelect,
    )
    sheet = forms.FileField(
        required=False,
        label="Spreadsheet",
        help_text="Excel, OpenDocument or CSV: column A phone, B name, C message (else the "
        "text below), D sender id, further columns are variables named by their header.",
    )
    template = forms.ChoiceField(required=False, label="Template")
    message = forms.CharField(required=False, strip=False, label="Message")
    sender_id = forms.ChoiceField(required=False, label="Sender id")
    when = forms.ChoiceField(
        label="When",
        choices=[("now", "Send now"), ("later", "Schedule")],
        initial="now",
        widget=forms.RadioSelect,
    )
    schedule_at = forms.CharField(
        required=False,
        label="Date and time",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def __init__(self, *args, tenant: Tenant, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.tenant = tenant
        self.templates = list(
            for_tenant(Template, tenant).filter(channel=Channel.SMS).order_by("name")
        )
        self.fields["template"].choices = [("", "No template")] + [
            (str(template.pk), template.name) for template in self.templates
        ]
        self.fields["sender_id"].choices = _sender_choices(tenant)
        self.fields["schedule_at"].label = f"Date and time ({tenant.timezone})"

    def clean_message(self) -> str:
        # Browsers send a textarea's line breaks as CR LF; the message has one character each.
        return self.cleaned_data["message"].replace("\r\n", "\n")

    def clean(self):
        data = super().clean()
        if data.get("audience") == "sheet" and not data.get("sheet"):
            self.add_error("sheet", "Choose the spreadsheet to send to.")
        has_text = (data.get("message") or "").strip() or data.get("template")
        if data.get("audience") != "sheet" and not has_text:
            self.add_error("message", "Write the message, or pick a template.")
        data["schedule"] = None
        if data.get("when") == "later":
            if not data.get("schedule_at"):
                self.add_error("schedule_at", "Choose when to send it.")
            else:
                try:
                    data["schedule"] = parse_schedule(data["schedule_at"], self.tenant.timezone)
                except ValidationError as error:
                    self.add_error("schedule_at", error)
        return data

    def chosen_template(self) -> Template | None:
        chosen = self.cleaned_data.get("template")
        return next((t for t in self.templates if str(t.pk) == chosen), None)


# --- the live counter ------------------------------------------------------------------------


def highlight(text: str, positions: set[int]) -> SafeString:
    """The text with each run of characters at `positions` in <mark class="ucs2">."""
    parts = []
    runs = itertools.groupby(enumerate(text), key=lambda pair: pair[0] in positions)
    for forcing, run in runs:
        chunk = "".join(character for _, character in run)
        if forcing:
            parts.append(format_html('<mark class="ucs2">{}</mark>', chunk))
        else:
            parts.append(escape(chunk))
    return mark_safe("".join(parts))  # noqa: S308 - every part escaped above


def _estimate(tenant: Tenant, text: str, audience: Audience, *, sheet: bool) -> dict:
    """The estimate partial's context: figures for the text and the chosen recipients."""
    chosen = None
    skipped = 0
    if audience and not sheet:
        members = audience.members(tenant)
        skipped = members.filter(is_active=False).count()
        chosen = list(members.filter(is_active=True).values_list("pk", flat=True))
    context: dict = {"chosen": chosen, "inactive": skipped, "sheet": sheet}
    limit = settings.SMS_BULK_SEND_MAX_RECIPIENTS
    if chosen is not None and len(chosen) > limit:
        return {**context, "error": _too_many(len(chosen), limit)}
    # Until there is a text, the recipients' figures would only say "the message is empty".
    ids = chosen if chosen is not None and text.strip() else None
    try:
        estimate: Estimate = sms_estimate(tenant=tenant, message=text, contact_ids=ids)
    except ApplicationError as error:
        return {**context, "error": error.message, "reasons": error.details.get("errors", [])}
    forcing = [w for w in estimate.warnings if w["source"] == "text"]
    return {
        **context,
        "estimate": estimate,
        "with_recipients": ids is not None,
        "forcing": forcing,
        "from_values": [w for w in estimate.warnings if w["source"] == "variables"],
        "preview": highlight(text, {w["position"] for w in forcing}) if forcing else "",
        "gsm7_single": GSM7_SINGLE,
        "ucs2_single": UCS2_SINGLE,
    }


@tenant_page
@require_POST
def estimate(request):
    """The figures box, refreshed while the user types or changes the recipients."""
    text = request.POST.get("message", "").replace("\r\n", "\n")
    if not text and request.POST.get("template"):
        text = _load(Template, request.tenant, [request.POST["template"]])[0].body
    sheet = request.POST.get("audience") == "sheet"
    context = _estimate(request.tenant, text, _audience(request, request.POST), sheet=sheet)
    return render(request, "web/compose/estimate.html", context)


# --- the contact picker ----------------------------------------------------------------------


@tenant_page
def contact_search(request):
    """Contacts whose name, e-mail or phone match what is typed, to add one by one."""
    query = request.GET.get("q", "").strip()
    results = []
    # The newest matches, as the contact list's first page has them, shown by name. The first
    # by name of every match meant reading them all: 0.6 to 1.6 s for the 50,000 "juma"s of a
    # million contacts, where a name search alone is paged from ContactWord in milliseconds.
    contacts = for_tenant(Contact, request.tenant).order_by("-created_at", "-id")
    search = ContactFilter.name_search_alone({"search": query}, request.tenant)
    if search:
        results = list(NameSearchPaginator(contacts, SEARCH_RESULTS, search=search).page(1))
    elif query:
        matches = ContactFilter({"search": query}, queryset=contacts, request=request).qs
        results = list(matches.order_by("-created_at", "-id")[:SEARCH_RESULTS])
    results.sort(key=lambda contact: (contact.name.casefold(), str(contact.pk)))
    chosen = set(request.GET.getlist("contacts"))
    return render(
        request,
        "web/compose/contact_results.html",
        {"query": query, "results": results, "chosen": chosen},
    )


@tenant_page
def contact_pick(request, contact_id: uuid.UUID):
    """One chosen contact: its chip (with the hidden input the form sends) and its search
    result marked as added."""
    contact = get_for_tenant_or_404(Contact, request.tenant, pk=contact_id)
    response = render(request, "web/compose/contact_chip.html", {"contact": contact, "oob": True})
    response["HX-Trigger"] = "recipients-changed"
    return response


# --- sending ---------------------------------------------------------------------------------


@dataclass
class Sent:
    campaign: Campaign
    sent: int
    failures: list[tuple[str, str]]  # (recipient, reason)
    campaigns: int = 1


def _failures(results, names: dict[str, str]) -> list[tuple[str, str]]:
    failures = []
    for result in results:
        if result.success or not result.error:
            continue
        name = names.get(result.phone, "")
        failures.append((f"{name} {result.phone}".strip(), result.error))
    return failures


def _send_to_contacts(request, data: dict, audience: Audience) -> Sent:
    tenant = request.tenant
    members = audience.members(tenant)
    rows = list(members.values("phone_e164", "name", "attributes", "is_active"))
    limit = settings.SMS_BULK_SEND_MAX_RECIPIENTS
    if not rows:
        raise ApplicationError("Choose at least one group, tag or contact with members.")
    if len(rows) > limit:
        raise ApplicationError(_too_many(len(rows), limit))
    names = {row["phone_e164"]: row["name"] for row in rows}
    inactive = [
        (f"{row['name']} {row['phone_e164']}".strip(), "Inactive contact: not sent")
        for row in rows
        if not row["is_active"]
    ]
    recipients = [
        RecipientInput(
            label=row["phone_e164"],
            phone=row["phone_e164"],
            name=row["name"],
            variables=row["attributes"] or {},
        )
        for row in rows
        if row["is_active"]
    ]
    if not recipients:
        raise ApplicationError("Every chosen contact is inactive: nobody to send to.")
    try:
        with transaction.atomic():
            outcome = sms_send(
                tenant=tenant,
                created_by=request.user,
                recipients=recipients,
                message=data["message"],
                template=data["template_row"],
                sender_id=data.get("sender_id") or "",
                schedule_at=data["schedule"],
                origin="dashboard",
                name=audience.name(),
            )
    except NoValidRecipients as refused:
        refused.failures = inactive + _failures(refused.results, names)
        raise
    return Sent(outcome.campaign, outcome.successful, inactive + _failures(outcome.results, names))


def _send_sheet(request, data: dict) -> Sent:
    sheet = data["sheet"]
    if sheet.size > settings.MAX_UPLOAD_BYTES:
        raise ApplicationError(
            f"The file is {sheet.size:,} bytes; the limit is {settings.MAX_UPLOAD_BYTES:,}."
        )
    upload = sms_bulk_upload(
        tenant=request.tenant,
        created_by=request.user,
        data=sheet,
        file_name=sheet.name or "",
        sender_id=data.get("sender_id") or "",
        template=data["template_row"],
        schedule_at=data["schedule"],
        message=data["message"],
    )
    failures = [("", error) for error in upload.errors]
    campaigns = list(upload.campaigns.order_by("created_at"))
    if not upload.successful_contacts or not campaigns:
        refused = ApplicationError("No row of the file could be sent.")
        refused.failures = failures
        raise refused
    return Sent(campaigns[0], upload.successful_contacts, failures, campaigns=len(campaigns))


def _announce(request, sent: Sent) -> None:
    tenant = request.tenant
    campaign = sent.campaign
    count = f"{sent.sent:,} message{'s' if sent.sent != 1 else ''}"
    if campaign.scheduled_at:
        when = localtime(campaign.scheduled_at, ZoneInfo(tenant.timezone))
        messages.success(
            request, f"Scheduled {count} for {when:%d %b %Y %H:%M} ({tenant.timezone})."
        )
    else:
        messages.success(request, f"Queued {count}: sending now.")
    if sent.campaigns > 1:
        messages.info(
            request,
            f"The file named {sent.campaigns} sender ids: each has its own campaign, listed "
            "under Campaigns.",
        )
    if sent.failures:
        request.session[report_key(campaign.pk)] = {
            "failures": sent.failures[:FAILURES_SHOWN],
            "more": max(0, len(sent.failures) - FAILURES_SHOWN),
            "total": len(sent.failures),
        }


@tenant_page
def compose(request):
    tenant = request.tenant
    form = ComposeForm(request.POST or None, request.FILES or None, tenant=tenant)
    audience = _audience(request, request.POST if request.method == "POST" else request.GET)
    failures: list[tuple[str, str]] = []
    if request.method == "POST" and form.is_valid():
        data = {**form.cleaned_data, "template_row": form.chosen_template()}
        try:
            if data["audience"] == "sheet":
                sent = _send_sheet(request, data)
            else:
                sent = _send_to_contacts(request, data, audience)
        except ApplicationError as error:
            form.add_error(None, error.message)
            failures = getattr(error, "failures", [])
        else:
            _announce(request, sent)
            return redirect("web:campaign", campaign_id=sent.campaign.pk)
    text = form.data.get("message", "") if form.is_bound else ""
    sheet = form.data.get("audience") == "sheet" if form.is_bound else False
    return render(
        request,
        "web/compose/compose.html",
        {
            "form": form,
            "audience": audience,
            "failures": failures[:FAILURES_SHOWN],
            "templates": {str(t.pk): t.body for t in form.templates},
            "groups": for_tenant(Group, tenant)
            .annotate(members=Count("contacts"))
            .order_by("name"),
            "tags": for_tenant(Tag, tenant).order_by("name"),
            "chosen_groups": {group.pk for group in audience.groups},
            "chosen_tags": {tag.pk for tag in audience.tags},
            **_estimate(tenant, text.replace("\r\n", "\n"), audience, sheet=sheet),
        },
    )


class TestSendForm(forms.Form):
    test_phone = forms.CharField(max_length=30, label="Phone number")
    message = forms.CharField(required=False, strip=False)
    template = forms.CharField(required=False)
    sender_id = forms.CharField(required=False)


@tenant_page
@require_POST
def test_send(request):
    """One message to one number, with the text and sender id as they are on the page."""
    form = TestSendForm(request.POST)
    context: dict = {}
    if not form.is_valid():
        context["error"] = "Give the phone number to send the test to."
    else:
        data = form.cleaned_data
        template = None
        if data["template"]:
            template = _load(Template, request.tenant, [data["template"]])[0]
        phone = data["test_phone"].strip()
        try:
            with transaction.atomic():
                outcome = sms_send(
                    tenant=request.tenant,
                    created_by=request.user,
                    recipients=[RecipientInput(label=phone, phone=phone)],
                    message=data["message"].replace("\r\n", "\n"),
                    template=template,
                    sender_id=data["sender_id"],
                    origin="dashboard",
                    name=f"Test to {phone}"[:200],
                )
        except NoValidRecipients as refused:
            reasons = [r.error for r in refused.results if r.error]
            context["error"] = reasons[0] if reasons else refused.message
        except ApplicationError as error:
            context["error"] = error.message
        else:
            context["campaign"] = outcome.campaign
            context["phone"] = outcome.campaign.messages.values_list("to", flat=True).first()
    return render(request, "web/compose/test_result.html", context)


urlpatterns = [
    path("compose/", compose, name="compose"),
    path("compose/estimate/", estimate, name="compose-estimate"),
    path("compose/contacts/", contact_search, name="compose-contacts"),
    path("compose/contacts/<uuid:contact_id>/", contact_pick, name="compose-contact-pick"),
    path("compose/test/", test_send, name="compose-test"),
]
