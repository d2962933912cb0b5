"""Writes to message templates, and the preview of one for a contact."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils.timezone import now

from mifumo.contacts.models import Contact
from mifumo.delivery.models import Channel
from mifumo.delivery.segments import count_segments
from mifumo.messaging.models import Template
from mifumo.messaging.templating import compile_template, contact_context
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.models import Tenant, User
from mifumo.tenancy.scoping import get_for_tenant_or_404

ENCODING_NAMES = {"gsm7": "GSM-7", "ucs2": "UCS-2"}


def _template_exists(name: str) -> ApplicationError:
    return ApplicationError(
        f"A template named {name!r} already exists.",
        error_code="duplicate_template",
        status_code=409,
        details={"name": [f"A template named {name!r} already exists."]},
    )


def _check_name(tenant: Tenant, name: str, exclude_id: uuid.UUID | None = None) -> str:
    name = " ".join(name.split())
    if not name:
        raise ApplicationError(
            "A template needs a name.",
            error_code="validation_error",
            details={"name": ["This field may not be blank."]},
        )
    # Case-insensitive, as group names are. SQLite's lower() folds ASCII only: there a
    # non-ASCII name clashes only when spelt the same (the unique constraint's rule).
    clash = Template.objects.annotate(lower_name=Lower("name")).filter(
        tenant=tenant, lower_name=name.lower()
    )
    if exclude_id is not None:
        clash = clash.exclude(pk=exclude_id)
    if clash.exists():
        raise _template_exists(name)
    return name


def _save(template: Template) -> Template:
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError:  # two requests creating the same name at once
        raise _template_exists(template.name) from None
    return template


@transaction.atomic
def template_create(
    *,
    tenant: Tenant,
    name: str,
    body: str,
    channel: str = Channel.SMS,
    subject: str = "",
    created_by: User | None = None,
) -> Template:
    template = Template(
        tenant=tenant,
        name=_check_name(tenant, name),
        channel=channel,
        subject=subject,
        body=body,
        created_by=created_by,
    )
    return _save(template)


@transaction.atomic
def template_update(*, template: Template, **changes: Any) -> Template:
    """Change the given fields (name, channel, subject, body); absent ones stay."""
    if "name" in changes:
        template.name = _check_name(template.tenant, changes.pop("name"), exclude_id=template.pk)
    for field in ("channel", "subject", "body"):
        if field in changes:
            setattr(template, field, changes.pop(field))
    if changes:
        raise TypeError(f"template_update() got unexpected fields: {sorted(changes)}")
    template.updated_at = now()
    return _save(template)


def template_delete(*, template: Template) -> None:
    # Campaigns keep their own copy of each message's text, so nothing sent refers to it.
    template.delete()


@dataclass(frozen=True)
class TemplatePreview:
    rendered: str
    subject: str | None
    encoding: str | None  # "GSM-7" or "UCS-2"; None for e-mail
    characters: int
    segments: int | None
    missing_variables: list[str]


def template_preview(
    *,
    template: Template,
    contact_id: uuid.UUID | None = None,
    variables: Mapping[str, object] | None = None,
) -> TemplatePreview:
    """The template as one recipient would get it. `variables` override the contact's own
    values. Missing variables are reported, and left in the text as written."""
    if contact_id is not None:
        contact = get_for_tenant_or_404(Contact, template.tenant, pk=contact_id)
        context = contact_context(
            name=contact.name,
            phone=contact.phone_e164,
            email=contact.email,
            attributes=contact.attributes,
            extra=variables,
        )
    else:
        context = contact_context(extra=variables)
    rendered, missing = compile_template(template.body).render_partial(context)
    subject = None
    if template.channel == Channel.EMAIL:
        subject, missing_in_subject = compile_template(template.subject).render_partial(context)
        missing = sorted({*missing, *missing_in_subject})
        return TemplatePreview(rendered, subject, None, len(rendered), None, missing)
    count = count_segments(rendered)
    return TemplatePreview(
        rendered=rendered,
        subject=None,
        encoding=ENCODING_NAMES[count.encoding],
        characters=count.characters,
        segments=count.segments,
        missing_variables=missing,
    )
