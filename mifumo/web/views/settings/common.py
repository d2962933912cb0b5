"""What the settings pages (and the school pages) share: showing a service's refusal on a
form, pages of a list, dates in the organisation's time zone, a value shown only once."""

from __future__ import annotations

from functools import wraps
from zoneinfo import ZoneInfo

from django import forms
from django.core.paginator import Paginator
from django.utils import timezone

from mifumo.tenancy.errors import ApplicationError


def show_error(form: forms.Form, error: ApplicationError) -> None:
    """Put a service's ApplicationError next to the field it names, else above the form. A
    list under the field's name says what is wrong with each part (every bad recipient); a
    short word there ("already requested") says less than the error's own message."""
    fields = [name for name in error.details if name in form.fields]
    if not fields:
        form.add_error(None, error.message)
    for name in fields:
        details = error.details[name]
        for message in details if isinstance(details, list) else [error.message]:
            form.add_error(name, str(message))


def page_of(request, rows, per_page: int = 50):
    """The ?page= page of `rows` (an out-of-range number gives the last page)."""
    return Paginator(rows, per_page).get_page(request.GET.get("page"))


def in_tenant_timezone(view):
    """Dates shown and typed on the page are in the organisation's time zone."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        with timezone.override(ZoneInfo(request.tenant.timezone)):
            return view(request, *args, **kwargs)

    return wrapper


def show_once(request, key: str, value=None):
    """Keep `value` for the next page only (a new API key, a new report URL): after a
    redirect the page reads it with show_once(request, key) and it is gone for good."""
    if value is not None:
        request.session[key] = value
        return value
    return request.session.pop(key, None)
