"""Serializers of POST /api/messaging/sms/estimate/."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mifumo.contacts.serializers import AttributesField, ContactIdsField
from mifumo.messaging.serializers.templates import SMS_MAX_CHARACTERS, check_syntax
from mifumo.tenancy.serializers import StrictSerializer

_SCALARS = (str, int, float, bool, type(None))
_FOUR_PLACES = Decimal("0.0001")


@extend_schema_field(
    {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"phone": {"type": "string"}, "name": {"type": "string"}},
            "required": ["phone"],
            "additionalProperties": {"type": ["string", "number", "boolean"]},
        },
    }
)
class RecipientRowsField(serializers.Field):
    """Bulk send's `contacts`: [{phone, name, ...}], further keys being that recipient's
    variables. Only the shape is checked here, in one loop (no serializer per row); a bad
    phone number is that recipient's error, reported in the answer, not a 400."""

    default_error_messages = {"invalid": "{reason}"}

    def __init__(self, *, max_length: int, **kwargs):
        self.max_length = max_length
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("invalid", reason="Expected a list of {phone, name} objects.")
        if not data:
            self.fail("invalid", reason="At least one recipient is required.")
        if len(data) > self.max_length:
            self.fail(
                "invalid",
                reason=f"At most {self.max_length} recipients per request; got {len(data)}.",
            )
        for index, row in enumerate(data):
            if not isinstance(row, dict):
                self.fail("invalid", reason=f"Recipient {index + 1} is not an object.")
            for key, value in row.items():
                if not isinstance(value, _SCALARS):
                    self.fail(
                        "invalid",
                        reason=f"Recipient {index + 1}: {key!r} must be a string or a number.",
                    )
        return data

    def to_representation(self, value):
        return value


class EstimateSerializer(StrictSerializer):
    message = serializers.CharField(
        max_length=SMS_MAX_CHARACTERS,
        required=False,
        trim_whitespace=False,
        validators=[check_syntax],
        help_text="The text, with {{variables}} if any. Give this or template_id.",
    )
    template_id = serializers.UUIDField(required=False)
    contacts = RecipientRowsField(max_length=settings.SMS_BULK_SEND_MAX_RECIPIENTS, required=False)
    contact_ids = ContactIdsField(max_length=settings.SMS_BULK_SEND_MAX_RECIPIENTS, required=False)
    group_id = serializers.UUIDField(required=False, help_text="A group whose members receive it.")
    variables = AttributesField(
        required=False,
        default=dict,
        help_text="Values for every recipient; a recipient's own values come first.",
    )

    def validate(self, attrs):
        if ("message" in attrs) == ("template_id" in attrs):
            raise serializers.ValidationError("Give either message or template_id.")
        return attrs


class MoneyField(serializers.DecimalField):
    """Credits as a string with at least 2 and at most 4 decimals: "12.50", "0.0375"."""

    def __init__(self, **kwargs):
        super().__init__(max_digits=18, decimal_places=4, **kwargs)

    def to_representation(self, value):
        return None if value is None else format_money(value)


def format_money(value: Decimal) -> str:
    whole, _, fraction = f"{value.quantize(_FOUR_PLACES):f}".partition(".")
    return f"{whole}.{fraction.rstrip('0').ljust(2, '0')}"


class EstimateWarningSerializer(serializers.Serializer):
    source = serializers.ChoiceField(
        choices=["text", "variables"],
        help_text="text: in the message or template as written (position points into it); "
        "variables: in recipients' values (recipients says how many).",
    )
    character = serializers.CharField()
    name = serializers.CharField(help_text="The Unicode name, e.g. RIGHT SINGLE QUOTATION MARK.")
    codepoint = serializers.CharField(help_text="U+2019")
    position = serializers.IntegerField(required=False, help_text="0-based.")
    column = serializers.IntegerField(required=False, help_text="1-based.")
    recipients = serializers.IntegerField(required=False)
    message = serializers.CharField()


class EstimateErrorSerializer(serializers.Serializer):
    phone = serializers.CharField()
    reason = serializers.CharField()
    contact_id = serializers.UUIDField(required=False)
    variable = serializers.CharField(required=False)


class EstimateResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    encoding = serializers.ChoiceField(choices=["GSM-7", "UCS-2"])
    characters = serializers.IntegerField()
    segments = serializers.IntegerField(
        help_text="Of one message: the first recipient's, or the text itself without any."
    )
    recipients = serializers.IntegerField(help_text="Messages that would be sent.")
    total_segments = serializers.IntegerField()
    cost = MoneyField(help_text='Credits, as a decimal string: "12.50".')
    billing_enabled = serializers.BooleanField()
    balance = MoneyField(allow_null=True)
    balance_after = MoneyField(allow_null=True)
    missing_variables = serializers.ListField(child=serializers.CharField())
    warnings = EstimateWarningSerializer(many=True)
    errors = EstimateErrorSerializer(many=True)
