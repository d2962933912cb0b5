"""Serializers of /api/messaging/templates/."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mifumo.contacts.serializers import AttributesField
from mifumo.delivery.models import Channel
from mifumo.messaging.models import Template
from mifumo.messaging.templating import TemplateSyntaxError, compile_template
from mifumo.tenancy.serializers import RejectUnknownFieldsMixin, StrictSerializer

# What SMS vendors accept as one (concatenated) message: Twilio refuses more than 1,600
# characters, and ten UCS-2 segments are already 670.
SMS_MAX_CHARACTERS = 1600
EMAIL_MAX_CHARACTERS = 100_000


def check_syntax(text: str) -> str:
    """A serializer-level check that `text` compiles; the error names the position."""
    try:
        compile_template(text)
    except TemplateSyntaxError as error:
        raise serializers.ValidationError(str(error)) from None
    return text


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class VariablesReadField(serializers.Field):
    """The variables the body (and subject) use, sorted: ["fee", "name", "term"]."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(source="*", **kwargs)

    def to_representation(self, template: Template) -> list[str]:
        names = set(compile_template(template.body).variables)
        if template.subject:
            names |= compile_template(template.subject).variables
        return sorted(names)


class TemplateSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.SMS)
    subject = serializers.CharField(
        max_length=300, required=False, allow_blank=True, validators=[check_syntax]
    )
    body = serializers.CharField(
        max_length=EMAIL_MAX_CHARACTERS, trim_whitespace=False, validators=[check_syntax]
    )
    variables = VariablesReadField()
    created_by = serializers.EmailField(source="created_by.email", read_only=True, default=None)

    class Meta:
        model = Template
        fields = [
            "id",
            "name",
            "channel",
            "subject",
            "body",
            "variables",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "variables", "created_by", "created_at", "updated_at"]
        # Names are unique per tenant whatever their case: the service checks and answers a
        # 409 that names the clash.
        validators = []

    def validate_body(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value

    def validate(self, attrs):
        # A PATCH may change the channel alone: check the template as it would be.
        instance = self.instance
        channel = attrs.get("channel", instance.channel if instance else Channel.SMS)
        body = attrs.get("body", instance.body if instance else "")
        subject = attrs.get("subject", instance.subject if instance else "")
        if channel == Channel.SMS:
            if len(body) > SMS_MAX_CHARACTERS:
                raise serializers.ValidationError(
                    {
                        "body": [
                            f"An SMS template has at most {SMS_MAX_CHARACTERS} characters; "
                            f"this one has {len(body)}."
                        ]
                    }
                )
            if subject:
                raise serializers.ValidationError(
                    {"subject": ["Only e-mail templates have a subject."]}
                )
        return attrs


class TemplatePreviewSerializer(StrictSerializer):
    contact_id = serializers.UUIDField(required=False)
    variables = AttributesField(required=False, default=dict)

    def validate(self, attrs):
        if "contact_id" not in attrs and not attrs["variables"]:
            raise serializers.ValidationError("Give contact_id, variables, or both.")
        return attrs


class TemplatePreviewResponseSerializer(serializers.Serializer):
    rendered = serializers.CharField(
        help_text="Variables without a value are left as written and listed in "
        "missing_variables: such a message would not be sent."
    )
    subject = serializers.CharField(required=False, help_text="E-mail templates only.")
    encoding = serializers.ChoiceField(choices=["GSM-7", "UCS-2"], allow_null=True)
    characters = serializers.IntegerField()
    segments = serializers.IntegerField(allow_null=True)
    missing_variables = serializers.ListField(child=serializers.CharField())
