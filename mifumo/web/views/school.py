"""School messages (admins only, as in the API): write to a recipient group or typed numbers
and addresses by SMS or e-mail, now or later; the list with the spec's filters."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db.models import Q
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.formats import date_format
from django.views.decorators.http import require_POST

from mifumo.communications import services
from mifumo.communications.filters import BulkMessageFilter
from mifumo.communications.models import BulkMessage, BulkMessageStatus, DeliveryMethod
from mifumo.communications.recipients import recipient_groups
from mifumo.communications.serializers import SCHEDULE_GRACE_SECONDS
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.scoping import for_tenant, get_for_tenant_or_404
from mifumo.web.access import tenant_page
from mifumo.web.views.settings.common import in_tenant_timezone, page_of, show_error


def _group_choices(tenant) -> list[tuple[str, str]]:
    # The same list, with the same counts, as /api/communications/recipient-groups/.
    def label(group: dict) -> str:
        count = group["member_count"]
        people = f"{count} {'person' if count == 1 else 'people'}"
        return f"{group['name']} ({people}, {group['email_count']} with e-mail)"

    return [(group["name"], label(group)) for group in recipient_groups(tenant)]


class ComposeForm(forms.Form):
    delivery_method = forms.ChoiceField(
        label="Send by",
        choices=DeliveryMethod.choices[::-1],  # SMS first
        initial=DeliveryMethod.SMS,
        widget=forms.RadioSelect,
    )
    recipient_group = forms.ChoiceField(label="Recipient group", required=False)
    custom_recipients = forms.CharField(
        label="Other recipients",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Phone numbers or e-mail addresses, one per line or separated by commas.",
    )
    subject = forms.CharField(
        label="Subject", max_length=300, required=False, help_text="Needed for an e-mail."
    )
    message_body = forms.CharField(label="Message", widget=forms.Textarea(attrs={"rows": 6}))
    when = forms.ChoiceField(
        label="When",
        choices=[("now", "Send now"), ("later", "Send later")],
        initial="now",
        widget=forms.RadioSelect,
    )
    scheduled_time = forms.DateTimeField(
        label="Send at",
        required=False,
        input_formats=["%Y-%m-%dT%H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["recipient_group"].choices = [("", "No group"), *_group_choices(tenant)]
        self.fields["scheduled_time"].help_text = f"In {tenant.timezone} time."

    def clean(self):
        data = super().clean()
        if data.get("delivery_method") == DeliveryMethod.EMAIL and not data.get("subject"):
            self.add_error("subject", "An e-mail needs a subject.")
        if not data.get("recipient_group") and not data.get("custom_recipients", "").strip():
            self.add_error("recipient_group", "Choose a group or type some recipients.")
        if data.get("when") == "later":
            at = data.get("scheduled_time")
            if at is None and "scheduled_time" not in self.errors:
                self.add_error("scheduled_time", "Choose when to send it.")
            elif at is not None and (timezone.now() - at).total_seconds() > SCHEDULE_GRACE_SECONDS:
                self.add_error("scheduled_time", "That time has passed: choose a later one.")
        else:
            data["scheduled_time"] = None
        return data


class FilterForm(forms.Form):
    search = forms.CharField(label="Search", required=False)
    recipient_group = forms.ChoiceField(label="Recipient group", required=False)
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any"), *BulkMessageStatus.choices]
    )
    delivery_method = forms.ChoiceField(
        label="Sent by", required=False, choices=[("", "Any"), *DeliveryMethod.choices]
    )

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        used = for_tenant(BulkMessage, tenant).exclude(recipient_group="")
        names = {name for name, _ in _group_choices(tenant)}
        names |= set(used.values_list("recipient_group", flat=True).distinct())
        self.fields["recipient_group"].choices = [("", "Any"), *((n, n) for n in sorted(names))]


def _search(rows, text: str):
    # As the API's ?search= (DRF's SearchFilter): every word, in the subject or the body.
    for word in text.split():
        rows = rows.filter(Q(subject__icontains=word) | Q(message_body__icontains=word))
    return rows


@tenant_page(admin=True)
@in_tenant_timezone
def bulk_messages(request):
    services.bulk_messages_refresh(tenant=request.tenant)
    rows = for_tenant(BulkMessage, request.tenant).order_by("-created_at", "-id")
    rows = BulkMessageFilter(request.GET, queryset=rows).qs
    rows = _search(rows, request.GET.get("search", ""))
    page = page_of(request, rows.select_related("created_by"), per_page=25)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "web/school/list.html",
        {
            "filters": FilterForm(request.GET, tenant=request.tenant),
            "page": page,
            "query": query.urlencode(),
            "pending": any(row.status == BulkMessageStatus.PENDING for row in page),
        },
    )


@tenant_page(admin=True)
@in_tenant_timezone
def compose(request):
    form = ComposeForm(request.POST or None, tenant=request.tenant)
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "when"}
        try:
            bulk = services.bulk_message_create(
                tenant=request.tenant, created_by=request.user, **data
            )
        except ApplicationError as error:
            show_error(form, error)
        else:
            messages.success(request, _queued(bulk))
            return redirect("web:school")
    return render(request, "web/school/compose.html", {"form": form})


def _queued(bulk: BulkMessage) -> str:
    people = f"{bulk.total_recipients} recipient{'s' if bulk.total_recipients != 1 else ''}"
    text = f"Message queued for {people}."
    if bulk.scheduled_time and bulk.scheduled_time > timezone.now():
        when = date_format(timezone.localtime(bulk.scheduled_time), "j M Y H:i")
        text = f"Message scheduled for {when}, to {people}."
    if bulk.skipped_count:
        text += f" {bulk.skipped_count} could not get it (no address, or opted out)."
    return text


@require_POST
@tenant_page(admin=True)
def bulk_message_cancel(request, pk):
    bulk = get_for_tenant_or_404(BulkMessage, request.tenant, pk=pk)
    services.bulk_message_cancel(bulk=bulk)
    messages.success(request, "The message is cancelled: what had not been sent will not be.")
    return redirect("web:school")


urlpatterns = [
    path("school/", bulk_messages, name="school"),
    path("school/new/", compose, name="school-compose"),
    path("school/<int:pk>/cancel/", bulk_message_cancel, name="school-cancel"),
]
