from __future__ import annotations

import json

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mifumo.contacts.imports import mapping as m
from mifumo.contacts.imports.models import ImportJob, ImportStatus
from mifumo.tenancy.serializers import StrictSerializer

IMPORT_TYPES = ["csv", "excel", "phone_contacts"]


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "string", "enum": m.FIELDS},
        "description": 'Column name -> field, e.g. {"Namba": "phone", "Jina": "name"}.',
    }
)
class MappingField(serializers.Field):
    """Overrides of the detected mapping; in a multipart form, the same object as JSON text."""

    default_error_messages = {"invalid": "{reason}"}

    def to_internal_value(self, data):
        if isinstance(data, str):
            try:
                data = json.loads(data) if data.strip() else {}
            except ValueError:
                self.fail("invalid", reason="The mapping is not valid JSON.")
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            self.fail("invalid", reason="The mapping is an object of column names to fields.")
        bad = sorted({v for v in data.values() if v not in m.FIELDS})
        if bad:
            self.fail("invalid", reason=f"Unknown fields {bad}; use one of {m.FIELDS}.")
        return data

    def to_representation(self, value):
        return value


class PhoneContactSerializer(serializers.Serializer):
    full_name = serializers.CharField(required=False, allow_blank=True)
    phone = serializers.CharField(allow_blank=True)
    email = serializers.CharField(required=False, allow_blank=True)


@extend_schema_field(PhoneContactSerializer(many=True))
class PhoneContactsField(serializers.Field):
    """A list of {full_name, phone, email}; each contact is checked as a row, so one bad
    contact is reported by its position and does not stop the others."""

    default_error_messages = {"invalid": "{reason}"}

    def to_internal_value(self, data):
        if not isinstance(data, list) or not data:
            self.fail("invalid", reason="Expected a non-empty list of contacts.")
        limit = settings.CONTACTS_IMPORT_MAX_ROWS
        if len(data) > limit:
            self.fail("invalid", reason=f"At most {limit} contacts per request; got {len(data)}.")
        for position, item in enumerate(data, start=1):
            if not isinstance(item, dict):
                self.fail("invalid", reason=f"Contact {position} is not an object.")
        return data

    def to_representation(self, value):
        return value


class BulkImportSerializer(StrictSerializer):
    """The spec's bulk-import body, as JSON or as a multipart form."""

    import_type = serializers.ChoiceField(choices=IMPORT_TYPES)
    csv_data = serializers.CharField(required=False, trim_whitespace=False)
    file = serializers.FileField(required=False, help_text="CSV, XLSX, XLS, ODS, vCard or JSON")
    contacts = PhoneContactsField(required=False)
    sheet = serializers.CharField(required=False, allow_blank=True, default="")
    skip_duplicates = serializers.BooleanField(required=False, default=True)
    update_existing = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        kind = attrs["import_type"]
        if kind == "phone_contacts" and "contacts" not in attrs:
            raise serializers.ValidationError({"contacts": ["Required for phone_contacts."]})
        if kind == "csv" and not (attrs.get("csv_data") or attrs.get("file")):
            raise serializers.ValidationError({"csv_data": ["Give csv_data or a file."]})
        if kind == "excel" and not attrs.get("file"):
            raise serializers.ValidationError({"file": ["Required for an excel import."]})
        return attrs


class BulkImportResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    imported = serializers.IntegerField()
    updated = serializers.IntegerField()
    skipped = serializers.IntegerField()
    total_processed = serializers.IntegerField()
    errors = serializers.ListField(child=serializers.CharField())
    message = serializers.CharField()


class ImportJobCreateSerializer(StrictSerializer):
    file = serializers.FileField(help_text="CSV, XLSX, XLS, ODS, vCard or JSON, up to 10 MB")
    sheet = serializers.CharField(required=False, allow_blank=True, default="")
    skip_duplicates = serializers.BooleanField(required=False, default=True)
    update_existing = serializers.BooleanField(required=False, default=False)
    mapping = MappingField(required=False, default=dict)
    start = serializers.BooleanField(
        required=False,
        default=True,
        help_text="false: wait for POST .../start/ after looking at the preview.",
    )


class ImportJobStartSerializer(StrictSerializer):
    mapping = MappingField(required=False, default=dict)
    skip_duplicates = serializers.BooleanField(required=False)
    update_existing = serializers.BooleanField(required=False)


class RowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    column = serializers.CharField()
    value = serializers.CharField()
    reason = serializers.CharField()


class MappingItemSerializer(serializers.Serializer):
    column = serializers.CharField()
    field = serializers.ChoiceField(choices=m.FIELDS)


class ImportJobSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=ImportStatus.choices)
    mapping = MappingItemSerializer(many=True)
    awaiting_start = serializers.SerializerMethodField()
    first_errors = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = [
            "id", "status", "awaiting_start", "file_name", "file_format", "file_size", "sheet",
            "details", "header_row", "mapping", "skip_duplicates", "update_existing",
            "total_rows", "rows_processed", "imported", "updated", "skipped", "failed",
            "error", "first_errors", "created_at", "queued_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_awaiting_start(self, job: ImportJob) -> bool:
        return job.status == ImportStatus.PENDING and job.queued_at is None

    @extend_schema_field(RowErrorSerializer(many=True))
    def get_first_errors(self, job: ImportJob) -> list[dict]:
        if not self.context.get("with_errors"):
            return []
        return list(
            job.row_errors.order_by("row", "pk").values("row", "column", "value", "reason")[:20]
        )


class PreviewRowSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    cells = serializers.ListField(child=serializers.CharField(allow_blank=True))


class ImportPreviewSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    file_format = serializers.CharField()
    details = serializers.DictField()
    header_row = serializers.IntegerField()
    columns = serializers.ListField(child=serializers.CharField())
    mapping = MappingItemSerializer(many=True)
    fields = serializers.ListField(child=serializers.CharField())
    rows = PreviewRowSerializer(many=True)
    total_rows = serializers.IntegerField()
    has_phone_column = serializers.BooleanField()
