"""The contact list's bulk actions, for the rows a user ticked or for every contact that matches
the list's filters, which may be thousands.

The API's bulk services take at most CONTACTS_BULK_MAX_IDS ids (the spec's limit for one
request). The dashboard calls the same services in chunks of that size, all in one
transaction: an error in any chunk (a tag too many, a contact deleted meanwhile) leaves every
contact as it was, so "Delete 1,204 contacts?" deletes 1,204 or none.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from mifumo.contacts import services
from mifumo.contacts.filters import ContactFilter
from mifumo.contacts.models import Contact
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.models import Tenant

TAG, ACTIVATE, DEACTIVATE, DELETE = "tag", "activate", "deactivate", "delete"
ACTIONS = [
    (TAG, "Add a tag"),
    (ACTIVATE, "Activate"),
    (DEACTIVATE, "Deactivate"),
    (DELETE, "Delete"),
]


def contacts_matching(request, params) -> QuerySet[Contact]:
    """The request's tenant's contacts that the list's filters (search, tag, group, is_active,
    opted_out) keep, as the API's list filters them. ContactFilter reads request.tenant."""
    queryset = Contact.objects.filter(tenant=request.tenant)
    return ContactFilter(params, queryset=queryset, request=request).qs


def question(action: str, count: int, tag: str = "") -> str:
    """What the confirmation asks: "Delete 1,204 contacts?"."""
    contacts = f"{count:,} contact{'' if count == 1 else 's'}"
    if action == TAG:
        return f"Add the tag “{tag}” to {contacts}?"
    return f"{dict(ACTIONS)[action]} {contacts}?"


@transaction.atomic
def contacts_bulk_action(
    *, tenant: Tenant, contact_ids: Sequence[uuid.UUID], action: str, tag: str = ""
) -> int:
    """Apply `action` to the contacts, CONTACTS_BULK_MAX_IDS at a time; all or none."""
    size = settings.CONTACTS_BULK_MAX_IDS
    done = 0
    for start in range(0, len(contact_ids), size):
        chunk = contact_ids[start : start + size]
        if action == TAG:
            done += services.contacts_bulk_tag(tenant=tenant, contact_ids=chunk, add=[tag])
        elif action in (ACTIVATE, DEACTIVATE):
            done += services.contacts_bulk_edit(
                tenant=tenant, contact_ids=chunk, updates={"is_active": action == ACTIVATE}
            )
        elif action == DELETE:
            done += services.contacts_bulk_delete(tenant=tenant, contact_ids=chunk)
        else:
            raise ApplicationError(f"Unknown action {action!r}.", error_code="validation_error")
    return done


@transaction.atomic
def contacts_bulk_action_matching(*, request, params, action: str, tag: str = "") -> int:
    """Apply `action` to every contact the filters match now (read in the same transaction)."""
    ids = list(contacts_matching(request, params).order_by("pk").values_list("pk", flat=True))
    return contacts_bulk_action(tenant=request.tenant, contact_ids=ids, action=action, tag=tag)
