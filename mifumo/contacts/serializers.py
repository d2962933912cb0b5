from __future__ import annotations

import uuid
from functools import cached_property

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import connection, models
from django.db.models import Prefetch, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from mifumo.contacts.fields import clean_attributes, clean_tags
from mifumo.contacts.models import Contact, Group, GroupKind, Tag
from mifumo.tenancy.serializers import RejectUnknownFieldsMixin, StrictSerializer


def related(contact, relation: str) -> list:
    """A contact's tags, groups or guardians: the list CONTACT_RELATIONS prefetches into, else
    a query."""
    prefetched = getattr(contact, f"{relation}_list", None)
    return prefetched if prefetched is not None else list(getattr(contact, relation).all())


# What the API shows of a contact's relations. On PostgreSQL the contact views read them as
# arrays in the contacts' own query (with_relations); elsewhere from the related rows.


def tag_names(contact) -> list[str]:
    names = getattr(contact, "tag_names", None)
    if names is None:
        names = [tag.name for tag in related(contact, "tags")]
    return sorted(names, key=str.lower)


def group_refs(contact) -> list[dict]:
    """[{"id": "<uuid>", "name": ...}] by name."""
    refs = getattr(contact, "group_refs", None)
    if refs is None:
        refs = [{"id": str(group.pk), "name": group.name} for group in related(contact, "groups")]
    return refs


def guardian_ids(contact) -> list[str]:
    ids = getattr(contact, "guardian_pks", None)
    if ids is None:
        ids = [guardian.pk for guardian in related(contact, "guardians")]
    return [str(pk) for pk in ids]


# Into plain lists that related() reads: a manager's .all() on
# prefetched rows clones a queryset each time, four per contact, 8 ms of a 50-contact page.
CONTACT_RELATIONS = [
    Prefetch("tags", to_attr="tags_list"),
    Prefetch("groups", to_attr="groups_list"),
    # Only their ids are shown.
    Prefetch("guardians", queryset=Contact.objects.only("id"), to_attr="guardians_list"),
]


def _relation_arrays() -> dict[str, RawSQL]:
    """tag_names, group_refs (by name) and guardian_pks of each contact as arrays, in SQL
    written out: the same subqueries as ArraySubquery()s of the ORM took 1-2 ms of Python to
    resolve and compile in every list request, five times what the rest of its query took
    (timeit). They name the outer table, which the contact list's queries never alias."""
    contact = f'"{Contact._meta.db_table}"."id"'
    tags, tagged = Tag._meta.db_table, Contact.tags.through._meta.db_table
    groups, grouped = Group._meta.db_table, Contact.groups.through._meta.db_table
    guardians = Contact.guardians.through._meta.db_table
    return {
        "tag_names": RawSQL(  # noqa: S611 - table names, no input
            f"ARRAY(SELECT t.name FROM {tags} t JOIN {tagged} ct ON ct.tag_id = t.id "  # noqa: S608
            f"WHERE ct.contact_id = {contact})",
            (),
            output_field=ArrayField(models.CharField()),
        ),
        "group_refs": RawSQL(  # noqa: S611 - table names, no input
            "ARRAY(SELECT jsonb_build_object('id', g.id, 'name', g.name) "  # noqa: S608
            f"FROM {groups} g JOIN {grouped} cg ON cg.group_id = g.id "
            f"WHERE cg.contact_id = {contact} ORDER BY g.name)",
            (),
            output_field=ArrayField(models.JSONField()),
        ),
        "guardian_pks": RawSQL(  # noqa: S611 - table names, no input
            f"ARRAY(SELECT to_contact_id FROM {guardians} "  # noqa: S608
            f"WHERE from_contact_id = {contact})",
            (),
            output_field=ArrayField(models.UUIDField()),
        ),
    }


def with_relations(contacts: QuerySet[Contact]) -> QuerySet[Contact]:
    """The contacts with what the API shows of their tags, groups and guardians. On
    PostgreSQL as three arrays in the contacts' own query (tag_names() and the like above
    read them): prefetched, they took three more queries and two fifths of the Python
    time of a page of 50 (cProfile, bench/contacts_list.py). SQLite prefetches them."""
    if connection.vendor != "postgresql":
        return contacts.prefetch_related(*CONTACT_RELATIONS)
    return contacts.annotate(**_relation_arrays())


@extend_schema_field({"type": "array", "items": {"type": "string", "maxLength": 50}})
class TagsField(serializers.Field):
    default_error_messages = {"invalid": "{reason}"}

    def get_attribute(self, instance):
        return tag_names(instance)

    def to_internal_value(self, data):
        try:
            return clean_tags(data)
        except ValueError as error:
            self.fail("invalid", reason=str(error))

    def to_representation(self, value):
        return value


@extend_schema_field(
    {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}
)
class AttributesField(serializers.Field):
    default_error_messages = {"invalid": "{reason}"}

    def __init__(self, *, allow_null_values: bool = False, **kwargs):
        self.allow_null_values = allow_null_values
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        try:
            return clean_attributes(data, allow_null=self.allow_null_values)
        except ValueError as error:
            self.fail("invalid", reason=str(error))

    def to_representation(self, value):
        return value


@extend_schema_field({"type": "array", "items": {"type": "string", "format": "uuid"}})
class ContactIdsField(serializers.Field):
    """A list of contact UUIDs: 1 to `max_length`, no duplicates; bad entries are named."""

    default_error_messages = {"invalid": "{reason}"}

    def __init__(self, *, max_length: int, **kwargs):
        self.max_length = max_length
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("invalid", reason="Expected a list of contact IDs.")
        if not data:
            self.fail("invalid", reason="At least one contact ID is required.")
        if len(data) > self.max_length:
            self.fail(
                "invalid",
                reason=f"At most {self.max_length} contact IDs per request; got {len(data)}.",
            )
        ids, malformed, seen, duplicates = [], [], set(), []
        for item in data:
            try:
                value = uuid.UUID(str(item)) if isinstance(item, str) else None
            except ValueError:
                value = None
            if value is None:
                malformed.append(item if isinstance(item, str) else repr(item))
            elif value in seen:
                duplicates.append(str(value))
            else:
                seen.add(value)
                ids.append(value)
        if malformed:
            self.fail("invalid", reason=f"Malformed contact IDs: {malformed[:20]}")
        if duplicates:
            self.fail("invalid", reason=f"Duplicate contact IDs: {duplicates[:20]}")
        return ids

    def to_representation(self, value):
        return [str(v) for v in value]


class RelatedIdsField(serializers.ListField):
    """Ids of a contact's related rows (groups, guardians): written as a list, read back."""

    def __init__(self, *, relation: str, **kwargs):
        self.relation = relation
        super().__init__(child=serializers.UUIDField(), **kwargs)

    def get_attribute(self, instance):
        if self.relation == "groups":
            return [ref["id"] for ref in group_refs(instance)]
        return guardian_ids(instance)


class GroupRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


# The API's format and time zone for a contact's times, unbound: a serializer's `fields` are
# built on first use, all fifteen of them, for the one a page of contacts needs here.
_DATETIME = serializers.DateTimeField()


def datetime_writer():
    """DateTimeField().to_representation for the time zone active now: the same text, with the
    zone read once instead of for each value (from a context-local, twice per contact; with
    DRF's other steps, a tenth of a list page's Python time, cProfile)."""
    if not settings.USE_TZ or api_settings.DATETIME_FORMAT.lower() != ISO_8601:
        return _DATETIME.to_representation
    zone = timezone.get_current_timezone()

    def write(value):
        if value is None or value.utcoffset() is None:  # DRF makes a naive one aware
            return _DATETIME.to_representation(value)
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return write


class ContactSerializer(StrictSerializer):
    """A contact as the API shows it; the same fields (less the read-only ones) are written."""

    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    phone_e164 = serializers.CharField(
        max_length=40,
        help_text="E.164 (+255712345678) or local (0712 345 678) in the tenant's country.",
    )
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, default="")
    tags = TagsField(required=False, default=list)
    attributes = AttributesField(required=False, default=dict)
    is_active = serializers.BooleanField(required=False, default=True)
    group_ids = RelatedIdsField(relation="groups", required=False, default=list, max_length=100)
    groups = serializers.SerializerMethodField()
    guardian_ids = RelatedIdsField(
        relation="guardians", required=False, default=list, max_length=20
    )
    opted_out = serializers.BooleanField(source="is_opted_out", read_only=True)
    opted_out_at = serializers.DateTimeField(read_only=True, allow_null=True)
    opt_out_reason = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    @extend_schema_field(GroupRefSerializer(many=True))
    def get_groups(self, contact) -> list[dict]:
        return group_refs(contact)

    @cached_property
    def _write_datetime(self):
        # Once per serializer, that is per request: a list's child serializes its whole page.
        return datetime_writer()

    def to_representation(self, contact) -> dict:
        """What the fields above show, written out: DRF's walk over fifteen fields took 4 ms
        of Python for a page of 50 contacts, this a fifth of it (bench/contacts_list.py).
        tests/contacts/test_contacts_api.py checks both give the same."""
        when = self._write_datetime
        groups = group_refs(contact)
        return {
            "id": str(contact.pk),
            "name": contact.name,
            "phone_e164": contact.phone_e164,
            "email": contact.email,
            "tags": tag_names(contact),
            "attributes": contact.attributes,
            "is_active": contact.is_active,
            "group_ids": [ref["id"] for ref in groups],
            "groups": groups,
            "guardian_ids": guardian_ids(contact),
            "opted_out": contact.opted_out_at is not None,
            "opted_out_at": when(contact.opted_out_at) if contact.opted_out_at else None,
            "opt_out_reason": contact.opt_out_reason,
            "created_at": when(contact.created_at),
            "updated_at": when(contact.updated_at),
        }


class BulkUpdatesSerializer(StrictSerializer):
    """The spec's allowed update fields: name, email, tags, attributes, is_active."""

    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    tags = TagsField(required=False)
    attributes = AttributesField(required=False, allow_null_values=True)
    is_active = serializers.BooleanField(required=False)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Give at least one field to update.")
        return attrs


class BulkEditSerializer(StrictSerializer):
    contact_ids = ContactIdsField(max_length=settings.CONTACTS_BULK_MAX_IDS)
    updates = BulkUpdatesSerializer()


class BulkDeleteSerializer(StrictSerializer):
    contact_ids = ContactIdsField(max_length=settings.CONTACTS_BULK_MAX_IDS)


class BulkTagSerializer(StrictSerializer):
    contact_ids = ContactIdsField(max_length=settings.CONTACTS_BULK_MAX_IDS)
    add = TagsField(required=False, default=list)
    remove = TagsField(required=False, default=list)

    def validate(self, attrs):
        if not attrs["add"] and not attrs["remove"]:
            raise serializers.ValidationError("Give tags to add or to remove.")
        return attrs


class BulkEditResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
    updated_count = serializers.IntegerField()
    total_requested = serializers.IntegerField()
    errors = serializers.ListField(child=serializers.CharField())


class BulkDeleteResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
    deleted_count = serializers.IntegerField()
    total_requested = serializers.IntegerField()


class OptOutSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class GroupSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    member_count = serializers.IntegerField(read_only=True)
    kind = serializers.ChoiceField(choices=GroupKind.choices, default=GroupKind.CUSTOM)

    class Meta:
        model = Group
        fields = ["id", "name", "kind", "description", "member_count", "created_at"]
        read_only_fields = ["id", "member_count", "created_at"]
        # Uniqueness is checked case-insensitively by the service (a 409 that names the clash).
        validators = []


class GroupMembersSerializer(StrictSerializer):
    contact_ids = ContactIdsField(max_length=settings.GROUP_MEMBERS_MAX_IDS)


class GroupMembersResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
    count = serializers.IntegerField()
