from __future__ import annotations

from collections.abc import Mapping
from zoneinfo import available_timezones

import phonenumbers
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework_simplejwt import serializers as jwt_serializers
from rest_framework_simplejwt.exceptions import AuthenticationFailed

from mifumo.tenancy.models import ApiKey, AuditRecord, Membership, Role, Tenant, User


class RejectUnknownFieldsMixin:
    """A misspelt field ("emial") is an error that names it, not a silently ignored key."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class StrictSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    pass


def _check_password(password: str, **user_fields) -> str:
    # Called from validate(), where a bare list would land under non_field_errors: the
    # client needs to know it is the password that was refused.
    try:
        password_validation.validate_password(password, User(**user_fields))
    except DjangoValidationError as error:
        raise serializers.ValidationError({"password": list(error.messages)}) from None
    return password


class TenantSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tenant
        fields = ["id", "name", "default_region", "timezone", "is_active", "created_at"]
        read_only_fields = fields


class RegisterSerializer(StrictSerializer):
    organization = serializers.CharField(max_length=200)
    name = serializers.CharField(max_length=150)
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
    country = serializers.CharField(
        max_length=2,
        min_length=2,
        required=False,
        default="TZ",
        help_text="ISO 3166-1 alpha-2 code; local phone numbers are read in this country.",
    )
    timezone = serializers.CharField(
        max_length=64, required=False, help_text="IANA name; defaults to the country's."
    )

    def validate_country(self, value: str) -> str:
        code = value.upper()
        if code not in phonenumbers.SUPPORTED_REGIONS:
            raise serializers.ValidationError(f"{value!r} is not an ISO 3166-1 alpha-2 code.")
        return code

    def validate_timezone(self, value: str) -> str:
        if value not in available_timezones():
            raise serializers.ValidationError(f"{value!r} is not an IANA time zone.")
        return value

    def validate(self, attrs):
        attrs["password"] = _check_password(
            attrs["password"], email=attrs["email"], name=attrs["name"]
        )
        return attrs


class UserSerializer(serializers.ModelSerializer):
    role = serializers.CharField(source="membership.role", read_only=True)

    class Meta:
        model = User
        fields = ["id", "email", "name", "role", "is_active", "date_joined", "last_login"]
        read_only_fields = fields


class MeSerializer(serializers.Serializer):
    user = UserSerializer()
    tenant = TenantSerializer()
    role = serializers.ChoiceField(choices=Role.choices)
    auth = serializers.ChoiceField(choices=["jwt", "api_key"])


class RegisterResponseSerializer(serializers.Serializer):
    tenant = TenantSerializer()
    user = UserSerializer()
    access = serializers.CharField()
    refresh = serializers.CharField()


class UserCreateSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    name = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)

    def validate(self, attrs):
        attrs["password"] = _check_password(
            attrs["password"], email=attrs["email"], name=attrs["name"]
        )
        return attrs


class UserUpdateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=150, required=False)
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    is_active = serializers.BooleanField(required=False)


class ApiKeySerializer(serializers.ModelSerializer):
    created_by = serializers.EmailField(source="created_by.email", read_only=True)

    class Meta:
        model = ApiKey
        fields = ["id", "name", "role", "created_by", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = fields


class ApiKeyCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class TokenObtainPairSerializer(
    RejectUnknownFieldsMixin, jwt_serializers.TokenObtainPairSerializer
):
    pass


class TokenRefreshSerializer(RejectUnknownFieldsMixin, jwt_serializers.TokenRefreshSerializer):
    def validate(self, attrs):
        # simplejwt looks the user up with .get(): a token of a user that no longer exists
        # would be a 500 there. It is just an invalid token.
        try:
            return super().validate(attrs)
        except User.DoesNotExist:
            raise AuthenticationFailed(
                "No active account found for the given token.", code="no_active_account"
            ) from None


class TokenBlacklistSerializer(RejectUnknownFieldsMixin, jwt_serializers.TokenBlacklistSerializer):
    pass


def membership_payload(membership: Membership) -> dict:
    return {"user": membership.user, "tenant": membership.tenant, "role": membership.role}


class AuditRecordSerializer(serializers.ModelSerializer):
    user = serializers.UUIDField(source="user_id", read_only=True, allow_null=True)
    api_key = serializers.UUIDField(source="api_key_id", read_only=True, allow_null=True)

    class Meta:
        model = AuditRecord
        fields = [
            "id",
            "created_at",
            "action",
            "outcome",
            "user",
            "api_key",
            "actor",
            "object_ids",
            "counts",
            "error_code",
            "message",
            "request_id",
        ]
        read_only_fields = fields
