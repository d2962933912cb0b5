"""The audit log of bulk and administrative operations: who did what to how many, and how it
ended.

Services wrap an audited operation in `operation(...)`, which replaces their
`transaction.atomic`: when the block succeeds the record is written inside its transaction
(no change without its record, no record without its change); when it raises, the transaction
rolls back and the record of the failure is written afterwards, so a refused bulk edit still
says who tried. Services already inside a transaction of their own call `record(...)`.

The actor (user or API key) and the request id come from the request being served
(mifumo.observability.context); code outside a request passes `user=` or is "system".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, transaction
from django.http import Http404
from rest_framework import exceptions

from mifumo.observability.context import current_request, request_id
from mifumo.tenancy.models import AuditOutcome, AuditRecord, Tenant, User

logger = logging.getLogger(__name__)

# Object ids kept per record: bulk edits name at most 100 contacts; a campaign of 10,000 is
# named by its campaign id, not its messages.
MAX_OBJECT_IDS = 1000


@dataclass
class Operation:
    """What an audited block fills in as it learns it (counts, the ids it touched)."""

    object_ids: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def add_ids(self, ids: Iterable[Any]) -> None:
        self.object_ids.extend(str(value) for value in ids)


def _actor(user: User | None) -> tuple[User | None, Any, str]:
    request = current_request.get()
    api_key = getattr(request, "api_key", None) if request is not None else None
    if user is None and request is not None:
        request_user = getattr(request, "user", None)
        if request_user is not None and request_user.is_authenticated:
            user = request_user
    if api_key is not None:
        return user, api_key, f"api key {api_key.name}"[:254]
    if user is not None:
        return user, None, user.email
    return None, None, "system"


def record(
    *,
    tenant: Tenant,
    action: str,
    object_ids: Iterable[Any] = (),
    counts: dict[str, int] | None = None,
    outcome: str = AuditOutcome.SUCCEEDED,
    error_code: str = "",
    message: str = "",
    user: User | None = None,
) -> AuditRecord:
    """Write one record now, in the caller's transaction."""
    actor_user, api_key, actor = _actor(user)
    return AuditRecord.objects.create(
        tenant=tenant,
        action=action,
        outcome=outcome,
        user=actor_user,
        api_key=api_key,
        actor=actor,
        object_ids=[str(value) for value in object_ids][:MAX_OBJECT_IDS],
        counts=counts or {},
        error_code=error_code[:64],
        message=message[:500],
        request_id=request_id.get(),
    )


def error_code_of(error: BaseException) -> str:
    """The code the client was given: the envelope's error_code where there is one."""
    code = getattr(error, "error_code", None)
    if isinstance(code, str) and code:
        return code
    if isinstance(error, (exceptions.ValidationError, DjangoValidationError)):
        return "validation_error"
    if isinstance(error, (Http404, ObjectDoesNotExist)):
        return "not_found"
    if isinstance(error, DjangoPermissionDenied):
        return "permission_denied"
    if isinstance(error, exceptions.APIException):
        return error.default_code
    return type(error).__name__


def _message_of(error: BaseException) -> str:
    """The message the client was given (the envelope's), not a repr of DRF's error tree."""
    if isinstance(error, exceptions.APIException):
        from mifumo.tenancy.errors import _first_message

        return _first_message(error.detail)
    return str(getattr(error, "message", "") or error)


def record_failure(
    error: BaseException,
    *,
    tenant: Tenant,
    action: str,
    object_ids: Iterable[Any] = (),
    counts: dict[str, int] | None = None,
    user: User | None = None,
) -> None:
    """Record that an operation failed, once per error, without hiding the error itself."""
    if getattr(error, "audit_recorded", False):
        return
    try:
        # A savepoint: if the database itself is what failed, this write fails alone and the
        # caller still sees the original error.
        with transaction.atomic():
            record(
                tenant=tenant,
                action=action,
                object_ids=object_ids,
                counts=counts,
                outcome=AuditOutcome.FAILED,
                error_code=error_code_of(error),
                message=_message_of(error),
                user=user,
            )
    except DatabaseError:
        logger.exception("Could not record the failure of %s in the audit log", action)
        return
    error.audit_recorded = True  # type: ignore[attr-defined]


@contextmanager
def operation(
    *,
    tenant: Tenant,
    action: str,
    object_ids: Iterable[Any] = (),
    user: User | None = None,
) -> Iterator[Operation]:
    """A transaction that leaves exactly one audit record, however it ends."""
    op = Operation()
    op.add_ids(object_ids)
    try:
        with transaction.atomic():
            yield op
            record(
                tenant=tenant, action=action, object_ids=op.object_ids, counts=op.counts, user=user
            )
    except Exception as error:
        record_failure(
            error,
            tenant=tenant,
            action=action,
            object_ids=op.object_ids,
            counts=op.counts,
            user=user,
        )
        raise


def view_action(view: Any) -> str | None:
    """The audited action of a DRF view: `audit_action` is one action, or a dict by the
    viewset's action name (`{"bulk_edit": AuditAction.CONTACTS_BULK_EDIT}`)."""
    declared = getattr(view, "audit_action", None)
    if isinstance(declared, dict):
        return declared.get(getattr(view, "action", None))
    return declared


def record_view_failure(error: BaseException, context: dict[str, Any]) -> None:
    """From the API's exception handler: an audited endpoint refused the request before (or
    without) its service recording it — a serializer's validation, a missing object."""
    view = context.get("view")
    request = context.get("request")
    tenant = getattr(request, "tenant", None)
    action = view_action(view) if view is not None else None
    if action is None or tenant is None:
        return  # unauthenticated callers are not the tenant's to log
    if getattr(request, "method", "GET") in ("GET", "HEAD", "OPTIONS"):
        return  # reading an audited endpoint's list is not an operation
    if getattr(error, "status_code", None) == 429:
        return  # throttled: nothing was attempted
    rid = request_id.get()
    if rid and AuditRecord.objects.filter(tenant=tenant, action=action, request_id=rid).exists():
        return  # the service recorded this request (e.g. an upload none of whose rows could go)
    record_failure(error, tenant=tenant, action=action)
