from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mifumo.tenancy.serializers import StrictSerializer


@extend_schema_field(
    {"type": "array", "items": {"type": "object", "additionalProperties": True}, "maxItems": 10_000}
)
class ContactObjects(serializers.Field):
    """The contacts as the JSON body gave them, checked only for being a list. Recipients are
    checked one by one by the service (a bad one fails alone): a serializer per recipient
    would cost more than the rest of a 10,000-recipient request, and even JSONField encodes
    the whole list again to check that it is JSON."""

    default_error_messages = {"not_a_list": "Expected a list of contact objects."}

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list")
        return data

    def to_representation(self, value):
        return value


class BulkSendSerializer(StrictSerializer):
    contacts = ContactObjects(help_text="[{phone, name, ...template variables}], up to 10,000")
    message = serializers.CharField(required=False, allow_blank=True, max_length=1600)
    sender_id = serializers.CharField(required=False, allow_blank=True, max_length=15)
    template_id = serializers.UUIDField(required=False, allow_null=True)
    schedule_at = serializers.DateTimeField(required=False, allow_null=True)
    campaign_id = serializers.UUIDField(required=False, allow_null=True)


class BulkUploadSerializer(StrictSerializer):
    file = serializers.FileField(help_text="XLSX, XLS or CSV, up to 10 MB and 50,000 rows")
    sender_id = serializers.CharField(required=False, allow_blank=True, max_length=15)
    template_id = serializers.UUIDField(required=False, allow_null=True)
    campaign_id = serializers.UUIDField(required=False, allow_null=True)
    schedule_at = serializers.DateTimeField(required=False, allow_null=True)


class SendResultSerializer(serializers.Serializer):
    phone = serializers.CharField()
    success = serializers.BooleanField()
    message_id = serializers.UUIDField(required=False)
    error = serializers.CharField(required=False)
    duplicate = serializers.BooleanField(required=False)


class BulkSendResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    total_contacts = serializers.IntegerField()
    processed_contacts = serializers.IntegerField()
    successful_contacts = serializers.IntegerField()
    campaign_id = serializers.UUIDField()
    results = SendResultSerializer(many=True)


MAX_RECIPIENTS = settings.SMS_BULK_SEND_MAX_RECIPIENTS


class BulkUploadResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
    upload_id = serializers.UUIDField()
    total_contacts = serializers.IntegerField()
    processed_contacts = serializers.IntegerField()
    successful_contacts = serializers.IntegerField()
    errors = serializers.ListField(child=serializers.CharField())
    errors_not_shown = serializers.IntegerField(required=False)


class UploadCampaignSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    sender_id = serializers.CharField()
    total_messages = serializers.IntegerField()
    counters = serializers.DictField(child=serializers.IntegerField())


class BulkUploadDetailSerializer(BulkUploadResponseSerializer):
    message = None
    created_at = serializers.DateTimeField()
    campaigns = UploadCampaignSerializer(many=True)
