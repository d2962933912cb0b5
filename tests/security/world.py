"""What the security suite walks and what it builds: the OpenAPI schema's operations, one of
tenant A's objects for every route with an id, a valid body for every operation that takes one,
and a snapshot of the whole database to prove that a refused request changed nothing.

A route that appears in the schema without an entry here makes the suite fail (see
test_coverage.py), so a new endpoint cannot slip past the isolation, role and token checks.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.apps import apps
from django.db import connection
from django.utils.timezone import now
from drf_spectacular.generators import SchemaGenerator

from mifumo.communications import services as communications
from mifumo.contacts.imports.services import import_job_create
from mifumo.delivery.models import Campaign, CampaignStatus, Message, MessageStatus
from mifumo.messaging.models import BulkUpload, SenderId, SenderIdStatus, Template
from mifumo.tenancy.models import (
    ApiKey,
    AuditAction,
    AuditOutcome,
    AuditRecord,
    Role,
    Tenant,
    User,
)
from tests.factories import create_contact, create_group, create_tenant, create_user

METHODS = ("get", "post", "put", "patch", "delete")


# --- The schema ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str  # lower case, as in the schema
    path: str  # the schema's template: /api/messaging/contacts/{id}/
    spec: dict = field(compare=False, hash=False, repr=False)

    @property
    def key(self) -> str:
        return f"{self.method.upper()} {self.path}"

    @property
    def path_params(self) -> list[str]:
        return [p["name"] for p in self.spec.get("parameters", []) if p["in"] == "path"]

    @property
    def public(self) -> bool:
        """Open to anyone (AllowAny): drf-spectacular lists the empty requirement `{}`."""
        return {} in self.spec.get("security", [{}])

    @property
    def media_types(self) -> list[str]:
        return list(self.spec.get("requestBody", {}).get("content", {}))

    def __str__(self) -> str:
        return self.key


@functools.cache
def api_schema() -> dict:
    """The schema /api/schema/ serves, generated in-process (the same generator and settings)."""
    return SchemaGenerator().get_schema(request=None, public=True)


def operations() -> list[Operation]:
    return [
        Operation(method, path, spec)
        for path, item in api_schema()["paths"].items()
        for method, spec in item.items()
        if method in METHODS
    ]


def operation_keys(predicate: Callable[[Operation], bool] = lambda op: True) -> list[str]:
    return [op.key for op in operations() if predicate(op)]


def operation(key: str) -> Operation:
    return next(op for op in operations() if op.key == key)


# --- Tenant A's world, and its outsider --------------------------------------------------------


@dataclass
class World:
    tenant_a: Tenant
    alice: User  # admin of A
    bob: User  # member of A
    tenant_b: Tenant
    charlie: User  # admin of B
    contact: str  # one of A's contacts, named Asha, for bodies that take contact ids
    group: str  # one of A's groups
    b_contact: str  # one of B's contacts
    b_group: str


def build_world() -> World:
    tenant_a = create_tenant("Shule ya Msingi A")
    tenant_b = create_tenant(
        "Other Org B",
        default_region="KE",
        timezone="Africa/Nairobi",
        allowed_countries=["KE", "TZ"],  # so the bodies' Tanzanian numbers are B's to text
    )
    group = create_group(tenant_a, "Form 2B", kind="class")
    contact = create_contact(
        tenant_a, name="Asha", phone="+255712345678", tags=["vip"], group_ids=[group.pk]
    )
    b_group = create_group(tenant_b, "Charlie's")
    b_contact = create_contact(tenant_b, name="Charlie's contact", phone="+254712345678")
    return World(
        tenant_a=tenant_a,
        alice=create_user(tenant_a, role=Role.ADMIN, email="alice@a.example", name="Alice"),
        bob=create_user(tenant_a, role=Role.MEMBER, email="bob@a.example", name="Bob"),
        tenant_b=tenant_b,
        charlie=create_user(tenant_b, role=Role.ADMIN, email="charlie@b.example", name="Charlie"),
        contact=str(contact.pk),
        group=str(group.pk),
        b_contact=str(b_contact.pk),
        b_group=str(b_group.pk),
    )


# --- One of tenant A's objects per route with an id --------------------------------------------


def _api_key(w: World) -> str:
    key, _plain = ApiKey.issue(tenant=w.tenant_a, created_by=w.alice, name="Server", role="member")
    return str(key.pk)


def _bulk_message(w: World) -> str:
    bulk = communications.bulk_message_create(
        tenant=w.tenant_a,
        created_by=w.alice,
        delivery_method="sms",
        message_body="Kikao cha wazazi ni Jumamosi.",
        custom_recipients="+255712345678",
        scheduled_time=now() + timedelta(days=2),  # nothing leaves while the test runs
    )
    return str(bulk.pk)


def _campaign(w: World) -> Campaign:
    """A finished campaign with one failed message: cancel, retry and detail all apply."""
    campaign = Campaign.objects.create(
        tenant=w.tenant_a,
        created_by=w.alice,
        name="Ada ya muhula",
        body="Habari Asha",
        status=CampaignStatus.COMPLETED,
        total_messages=1,
    )
    Message.objects.create(
        tenant=w.tenant_a,
        campaign=campaign,
        to="+255712345678",
        body="Habari Asha",
        status=MessageStatus.FAILED,
        error_code="timeout",
    )
    return campaign


def _message(w: World) -> str:
    return str(Message.objects.get(campaign=_campaign(w)).pk)


def _import_job(w: World) -> str:
    job = import_job_create(
        tenant=w.tenant_a,
        user=w.alice,
        file_name="wazazi.csv",
        data=b"Jina,Simu\nAsha,0712345678\nJuma,07123\n",
        start=False,  # waits for /start/, so every job route applies
    )
    return str(job.pk)


def _sender_id(w: World) -> str:
    sender = SenderId.objects.create(
        tenant=w.tenant_a,
        value=f"SHULE{uuid.uuid4().hex[:5].upper()}",  # values are unique per tenant
        status=SenderIdStatus.PENDING,
        requested_by=w.alice,
    )
    return str(sender.pk)


def _template(w: World) -> str:
    name = f"Ada {uuid.uuid4().hex[:6]}"  # names are unique per tenant
    return str(Template.objects.create(tenant=w.tenant_a, name=name, body="Habari {{name}}").pk)


def _audit_record(w: World) -> str:
    record = AuditRecord.objects.create(
        tenant=w.tenant_a,
        action=AuditAction.USER_ADD,
        outcome=AuditOutcome.SUCCEEDED,
        user=w.alice,
        actor="alice@a.example",
    )
    return str(record.pk)


def _upload(w: World) -> str:
    upload = BulkUpload.objects.create(tenant=w.tenant_a, created_by=w.alice, file_name="ada.xlsx")
    return str(upload.pk)


# path template -> builder of tenant A's object; its id fills the route's one path parameter.
OWNED_BY_ROUTE: dict[str, Callable[[World], str]] = {
    "/api/auth/api-keys/{id}/": _api_key,
    "/api/auth/users/{id}/": lambda w: str(w.bob.pk),
    "/api/communications/bulk-messages/{id}/": _bulk_message,
    "/api/messaging/audit-log/{id}/": _audit_record,
    "/api/messaging/campaigns/{id}/": lambda w: str(_campaign(w).pk),
    "/api/messaging/campaigns/{id}/cancel/": lambda w: str(_campaign(w).pk),
    "/api/messaging/campaigns/{id}/retry/": lambda w: str(_campaign(w).pk),
    "/api/messaging/contacts/{id}/": lambda w: w.contact,
    "/api/messaging/contacts/{id}/opt-in/": lambda w: w.contact,
    "/api/messaging/contacts/{id}/opt-out/": lambda w: w.contact,
    "/api/messaging/contacts/imports/{id}/": _import_job,
    "/api/messaging/contacts/imports/{id}/errors.csv": _import_job,
    "/api/messaging/contacts/imports/{id}/preview/": _import_job,
    "/api/messaging/contacts/imports/{id}/start/": _import_job,
    "/api/messaging/groups/{id}/": lambda w: w.group,
    "/api/messaging/groups/{id}/members/": lambda w: w.group,
    "/api/messaging/groups/{id}/members/add/": lambda w: w.group,
    "/api/messaging/groups/{id}/members/remove/": lambda w: w.group,
    "/api/messaging/messages/{id}/": _message,
    "/api/messaging/sender-ids/{id}/": _sender_id,
    "/api/messaging/sms/bulk-upload/{upload_id}/": _upload,
    "/api/messaging/templates/{id}/": _template,
    "/api/messaging/templates/{id}/preview/": _template,
}

# Routes with a path parameter that names no tenant's object, and why they are left out.
NOT_TENANT_OBJECTS = {
    # The vendor's name; the caller is the vendor, authenticated by the per-account secret in
    # ?token= (tests/messaging webhooks tests), not by a tenant's login.
    "/api/messaging/webhooks/{provider}/": "a vendor callback, authenticated by its secret",
}


def path_for(op: Operation, w: World) -> str:
    """The operation's URL with tenant A's object for its id (built now)."""
    params = op.path_params
    if not params:
        return op.path
    assert len(params) == 1, f"{op}: more than one path parameter; extend path_for()"
    assert op.path in OWNED_BY_ROUTE, f"{op.path}: add a builder to OWNED_BY_ROUTE in {__file__}"
    return op.path.replace("{" + params[0] + "}", OWNED_BY_ROUTE[op.path](w))


# --- A valid body for every operation that takes one -------------------------------------------

# "{contact}", "{group}", "{b_contact}", "{b_group}" stand for the world's ids.
BODIES: dict[str, dict] = {
    "POST /api/auth/api-keys/": {"name": "Reports server", "role": "member"},
    "POST /api/auth/logout/": {"refresh": "{refresh}"},
    "POST /api/auth/register/": {
        "organization": "Shule Mpya",
        "name": "Neema",
        "email": "neema@new.example",
        "password": "a long passphrase 42",
    },
    "POST /api/auth/token/": {"email": "alice@a.example", "password": "{password}"},
    "POST /api/auth/token/refresh/": {"refresh": "{refresh}"},
    "POST /api/auth/users/": {
        "email": "new@a.example",
        "name": "Mpya",
        "password": "a long passphrase 42",
        "role": "member",
    },
    "PATCH /api/auth/users/{id}/": {"name": "Renamed"},
    "POST /api/communications/bulk-messages/": {
        "custom_recipients": "+255712345678",
        "delivery_method": "sms",
        "message_body": "Kikao ni Jumamosi.",
        "scheduled_time": "2099-01-15T07:30:00Z",
    },
    "PATCH /api/communications/bulk-messages/{id}/": {"message_body": "Renamed"},
    "POST /api/messaging/campaigns/{id}/retry/": {"statuses": ["failed"]},
    "POST /api/messaging/contacts/": {"name": "Juma", "phone_e164": "+255754000111"},
    "PUT /api/messaging/contacts/{id}/": {"name": "Renamed", "phone_e164": "+255712345678"},
    "PATCH /api/messaging/contacts/{id}/": {"name": "Renamed"},
    "POST /api/messaging/contacts/{id}/opt-out/": {"reason": "STOP"},
    "POST /api/messaging/contacts/bulk-delete/": {"contact_ids": ["{contact}"]},
    "POST /api/messaging/contacts/bulk-edit/": {
        "contact_ids": ["{contact}"],
        "updates": {"name": "Renamed"},
    },
    "POST /api/messaging/contacts/bulk-import/": {
        "import_type": "csv",
        "csv_data": "name,phone\nJuma,0754000111\n",
    },
    "POST /api/messaging/contacts/bulk-tag/": {"contact_ids": ["{contact}"], "add": ["parent"]},
    "POST /api/messaging/contacts/imports/{id}/start/": {"mapping": {"Simu": "phone"}},
    "POST /api/messaging/groups/": {"name": "Kwaya", "kind": "custom"},
    "PUT /api/messaging/groups/{id}/": {"name": "Renamed", "kind": "custom"},
    "PATCH /api/messaging/groups/{id}/": {"name": "Renamed"},
    "POST /api/messaging/groups/{id}/members/add/": {"contact_ids": ["{contact}"]},
    "POST /api/messaging/groups/{id}/members/remove/": {"contact_ids": ["{contact}"]},
    "POST /api/messaging/sender-ids/": {"value": "SHULEA", "purpose": "Fees"},
    "POST /api/messaging/sms/bulk-send/": {
        "contacts": [{"phone": "+255712345678", "name": "Asha"}],
        "message": "Habari {{name}}",
        "schedule_at": "2099-01-15T07:30:00Z",
    },
    "POST /api/messaging/sms/estimate/": {"message": "Habari", "contact_ids": ["{contact}"]},
    "POST /api/messaging/templates/": {"name": "Karibu", "body": "Karibu {{name}}"},
    "PUT /api/messaging/templates/{id}/": {"name": "Renamed", "body": "Habari {{name}}"},
    "PATCH /api/messaging/templates/{id}/": {"body": "Renamed {{name}}"},
    "POST /api/messaging/templates/{id}/preview/": {"variables": {"name": "Asha"}},
}

# Multipart operations: the form, with a small CSV as `file` (see uploads in test_uploads.py).
MULTIPART: dict[str, dict] = {
    "POST /api/messaging/contacts/imports/": {"start": "false"},
    "POST /api/messaging/sms/bulk-upload/": {"schedule_at": "2099-01-15T07:30:00Z"},
}
SMALL_CSV = b"phone,name,message\n+255712345678,Asha,Habari Asha\n"

# Operations that take no body, or whose body is optional and empty is a valid request.
NO_BODY = {
    "POST /api/messaging/campaigns/{id}/cancel/",
    "POST /api/messaging/contacts/{id}/opt-in/",
}


def fill(value, names: dict[str, str]):
    if isinstance(value, str):
        for name, text in names.items():
            value = value.replace("{" + name + "}", text)
        return value
    if isinstance(value, list):
        return [fill(item, names) for item in value]
    if isinstance(value, dict):
        return {key: fill(item, names) for key, item in value.items()}
    return value


def body_for(op: Operation, w: World, **names: str) -> dict | None:
    ids = {"contact": w.contact, "group": w.group, "b_contact": w.b_contact, "b_group": w.b_group}
    if op.key in BODIES:
        return fill(BODIES[op.key], {**ids, **names})
    return None


def call(client, op: Operation, w: World, *, body: dict | None = None, url: str | None = None):
    """Send the operation with tenant A's object in the path and its valid body (or `body`)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    url = url or path_for(op, w)
    if op.key in MULTIPART:
        form = {**MULTIPART[op.key], "file": SimpleUploadedFile("a.csv", SMALL_CSV), **(body or {})}
        return client.post(url, form, format="multipart")
    data = body if body is not None else body_for(op, w)
    if data is None:
        return getattr(client, op.method)(url)
    return getattr(client, op.method)(url, data, format="json")


# --- Everything in the database ----------------------------------------------------------------

# Append-only logs of what was attempted (refusals included): a refused request may add to them.
LOGS = {"tenancy.auditrecord"}


def database_state() -> dict[str, dict]:
    """Every row of every table the project's apps own (many-to-many tables included), by
    primary key."""
    state = {}
    tables = set(connection.introspection.table_names())
    for model in apps.get_models(include_auto_created=True):
        label = model._meta.label_lower
        package = model._meta.app_config.name.split(".")[0]
        if label in LOGS or package not in ("mifumo", "rest_framework_simplejwt"):
            continue
        if not model._meta.managed:
            continue  # derived data kept by the database itself (contacts.ContactWord)
        assert model._meta.db_table in tables, f"{label}: no table; a migration is missing"
        pk = model._meta.pk.attname
        state[label] = {row[pk]: row for row in model.objects.values()}
    return state


def changes(before: dict, after: dict) -> dict[str, dict]:
    """Per table: rows added, removed or changed (as (before, after))."""
    found = {}
    for label in sorted(set(before) | set(after)):
        old, new = before.get(label, {}), after.get(label, {})
        added = [new[k] for k in new.keys() - old.keys()]
        removed = [old[k] for k in old.keys() - new.keys()]
        changed = [(old[k], new[k]) for k in old.keys() & new.keys() if old[k] != new[k]]
        if added or removed or changed:
            found[label] = {"added": added, "removed": removed, "changed": changed}
    return found
