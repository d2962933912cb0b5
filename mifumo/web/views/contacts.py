"""Contacts: the list with its search, filters and bulk actions; a contact's page with its
message history; the form that creates or edits one."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from mifumo.contacts import services
from mifumo.contacts.fields import clean_tags
from mifumo.contacts.filters import ContactFilter, NameSearchPaginator
from mifumo.contacts.models import Contact, ContactCount, Group, Tag
from mifumo.delivery.models import Message
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.scoping import for_tenant, get_for_tenant_or_404
from mifumo.web import contacts_actions as actions
from mifumo.web.access import tenant_page

PAGE_SIZE = 50
FILTERS = ("search", "tag", "group", "is_active", "opted_out")
YES_NO = [("", "Any"), ("true", "Yes"), ("false", "No")]


class FilterForm(forms.Form):
    """The list's filter bar; the values go to ContactFilter as the API's query parameters."""

    search = forms.CharField(
        required=False,
        label="Search",
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Name, e-mail or phone", "autocomplete": "off"}
        ),
    )
    tag = forms.ChoiceField(required=False, label="Tag")
    group = forms.ChoiceField(required=False, label="Group")
    is_active = forms.ChoiceField(
        required=False,
        label="Status",
        choices=[("", "Any"), ("true", "Active"), ("false", "Inactive")],
    )
    opted_out = forms.ChoiceField(required=False, label="Opted out", choices=YES_NO)

    def __init__(self, data, *, tenant):
        super().__init__(data)
        tags = Tag.objects.filter(tenant=tenant).order_by("name").values_list("name", flat=True)
        self.fields["tag"].choices = [("", "Any tag"), *((t, t) for t in tags)]
        groups = Group.objects.filter(tenant=tenant).values_list("pk", "name")
        self.fields["group"].choices = [("", "Any group"), *((str(g), n) for g, n in groups)]


class ContactForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)
    phone = forms.CharField(
        max_length=40,
        help_text="+255712345678, or 0712 345 678 in your organisation's country.",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )
    email = forms.EmailField(max_length=254, required=False, label="E-mail")
    tags = forms.CharField(required=False, help_text="Separated by commas.")
    groups = forms.TypedMultipleChoiceField(
        required=False, coerce=uuid.UUID, widget=forms.CheckboxSelectMultiple, label="Groups"
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")

    # Where the service's errors (keyed like the API's fields) are shown.
    SERVICE_FIELDS = {"phone_e164": "phone", "group_ids": "groups", "email": "email"}

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        groups = Group.objects.filter(tenant=tenant).values_list("pk", "name")
        self.fields["groups"].choices = [(str(pk), name) for pk, name in groups]

    def add_error(self, field, error):
        super().add_error(field, error)
        if field in self.fields:  # Pico marks the input; screen readers read the reason
            self.fields[field].widget.attrs.update(
                {"aria-invalid": "true", "aria-describedby": f"id_{field}-error"}
            )

    def clean_tags(self) -> list[str]:
        try:
            return clean_tags(self.cleaned_data["tags"].split(","))
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None

    def service_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"].strip(),
            "phone": data["phone"],
            "email": data["email"],
            "tags": data["tags"],
            "group_ids": data["groups"],
            "is_active": data["is_active"],
        }

    def add_service_error(self, error: ApplicationError) -> None:
        for key, field in self.SERVICE_FIELDS.items():
            if key in error.details:
                self.add_error(field, error.message)
                return
        self.add_error(None, error.message)


class ContactIdsField(forms.Field):
    """The ticked rows' ids (checkboxes named "ids")."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[uuid.UUID]:
        try:
            return list(dict.fromkeys(uuid.UUID(str(item)) for item in value or []))
        except ValueError:
            raise forms.ValidationError("Those are not contacts.") from None


class BulkForm(forms.Form):
    action = forms.ChoiceField(choices=actions.ACTIONS, label="Action")
    tag = forms.CharField(required=False, max_length=50, label="Tag to add")
    ids = ContactIdsField(required=False)
    all_matching = forms.BooleanField(required=False)
    query = forms.CharField(required=False)  # the list's filters, as its query string

    def clean(self):
        data = super().clean()
        if data.get("action") == actions.TAG:
            try:
                tags = clean_tags([data.get("tag", "")])
            except ValueError as error:
                self.add_error("tag", str(error))
            else:
                if not tags:
                    self.add_error("tag", "Type the tag to add.")
                else:
                    data["tag"] = tags[0]
        if not data.get("all_matching") and not data.get("ids"):
            raise forms.ValidationError("Tick the contacts first, or choose all matching ones.")
        return data


def _filter_params(query: QueryDict) -> QueryDict:
    """Only the filters of a query string (not its page)."""
    params = QueryDict(mutable=True)
    for name in FILTERS:
        if query.get(name):
            params[name] = query[name]
    return params


@tenant_page
def contact_list(request):
    params = _filter_params(request.GET)
    search = ContactFilter.name_search_alone(params, request.tenant)
    if search:
        # Paged and counted from ContactWord, as the API's list pages a name search alone:
        # filtered and counted in full, the 50,000 "juma"s of a million contacts were read.
        contacts = for_tenant(Contact, request.tenant)
    else:
        contacts = actions.contacts_matching(request, params)
    contacts = contacts.prefetch_related(Prefetch("tags", to_attr="tags_list")).order_by(
        "-created_at", "-id"
    )
    if search:
        paginator = NameSearchPaginator(contacts, PAGE_SIZE, search=search)
    else:
        paginator = Paginator(contacts, PAGE_SIZE)
        if not ContactFilter.narrows(params):
            # All the tenant's contacts: their number is kept by triggers on PostgreSQL.
            paginator.count = ContactCount.total_for(request.tenant)
    page = paginator.get_page(request.GET.get("page"))
    context = {
        "form": FilterForm(request.GET, tenant=request.tenant),
        "page": page,
        # More match than the count says (NameSearchPaginator counts up to a cap).
        "capped": getattr(paginator, "capped", False),
        "query": params.urlencode(),
        "actions": actions.ACTIONS,
    }
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "results":
        return render(request, "web/contacts/_results.html", context)
    return render(request, "web/contacts/list.html", context)


@tenant_page
@require_POST
def contact_bulk(request):
    """Ask "Delete 1,204 contacts?" first; do it when the confirmation comes back."""
    form = BulkForm(request.POST)
    back = "/contacts/?" + _filter_params(QueryDict(request.POST.get("query", ""))).urlencode()
    if not form.is_valid():
        for error in [*form.non_field_errors(), *form.errors.get("tag", [])]:
            messages.error(request, error)
        return redirect(back)
    data = form.cleaned_data
    params = _filter_params(QueryDict(data["query"]))
    if data["all_matching"]:
        count = actions.contacts_matching(request, params).count()
    else:
        count = for_tenant(Contact, request.tenant).filter(pk__in=data["ids"]).count()
    if "confirmed" not in request.POST:
        context = {
            "data": data,
            "count": count,
            "question": actions.question(data["action"], count, data["tag"]),
            "back": back,
        }
        return render(request, "web/contacts/confirm.html", context)
    try:
        if data["all_matching"]:
            done = actions.contacts_bulk_action_matching(
                request=request, params=params, action=data["action"], tag=data["tag"]
            )
        else:
            done = actions.contacts_bulk_action(
                tenant=request.tenant,
                contact_ids=data["ids"],
                action=data["action"],
                tag=data["tag"],
            )
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        verb = {"tag": "Tagged", "activate": "Activated", "deactivate": "Deactivated"}
        word = verb.get(data["action"], "Deleted")
        messages.success(request, f"{word} {done:,} contact{'' if done == 1 else 's'}.")
    return redirect(back)


def _contact(request, pk) -> Contact:
    return get_for_tenant_or_404(
        Contact.objects.prefetch_related("tags", "groups", "guardians", "wards"),
        request.tenant,
        pk=pk,
    )


@tenant_page
def contact_detail(request, pk):
    contact = _contact(request, pk)
    history = (
        Message.objects.filter(tenant=request.tenant, contact=contact)
        .select_related("campaign")
        .order_by("-created_at", "-id")
    )
    page = Paginator(history, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "web/contacts/detail.html", {"contact": contact, "page": page})


@tenant_page
def contact_create(request):
    form = ContactForm(request.POST or None, tenant=request.tenant)
    if request.method == "POST" and form.is_valid():
        try:
            contact = services.contact_create(tenant=request.tenant, **form.service_fields())
        except ApplicationError as error:
            form.add_service_error(error)
        else:
            messages.success(request, "Contact added.")
            return redirect(f"/contacts/{contact.pk}/")
    return render(request, "web/contacts/form.html", {"form": form, "contact": None})


@tenant_page
def contact_edit(request, pk):
    contact = _contact(request, pk)
    initial = {
        "name": contact.name,
        "phone": contact.phone_e164,
        "email": contact.email,
        "tags": ", ".join(tag.name for tag in contact.tags.all()),
        "groups": [str(group.pk) for group in contact.groups.all()],
        "is_active": contact.is_active,
    }
    form = ContactForm(request.POST or None, initial=initial, tenant=request.tenant)
    if request.method == "POST" and form.is_valid():
        try:
            services.contact_update(contact=contact, **form.service_fields())
        except ApplicationError as error:
            form.add_service_error(error)
        else:
            messages.success(request, "Contact saved.")
            return redirect(f"/contacts/{contact.pk}/")
    return render(request, "web/contacts/form.html", {"form": form, "contact": contact})


@tenant_page
@require_POST
def contact_delete(request, pk):
    contact = _contact(request, pk)
    services.contact_delete(contact=contact)
    messages.success(request, f"Deleted {contact.name or contact.phone_e164}.")
    return redirect("/contacts/")


@tenant_page
@require_POST
def contact_opt_out(request, pk):
    contact = _contact(request, pk)
    if contact.is_opted_out:
        services.contact_opt_in(contact=contact)
        messages.success(request, "Messages to this contact are allowed again.")
    else:
        services.contact_opt_out(contact=contact, reason="Opted out in the dashboard")
        messages.success(request, "This contact will get no more messages.")
    return redirect(f"/contacts/{contact.pk}/")


urlpatterns = [
    path("contacts/", contact_list, name="contacts"),
    path("contacts/bulk/", contact_bulk, name="contacts-bulk"),
    path("contacts/new/", contact_create, name="contact-new"),
    path("contacts/<uuid:pk>/", contact_detail, name="contact"),
    path("contacts/<uuid:pk>/edit/", contact_edit, name="contact-edit"),
    path("contacts/<uuid:pk>/delete/", contact_delete, name="contact-delete"),
    path("contacts/<uuid:pk>/opt-out/", contact_opt_out, name="contact-opt-out"),
]
