"""Auth endpoints: the fixed interface of ARCHITECTURE.md."""

from __future__ import annotations

import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status, viewsets
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt import views as jwt_views
from rest_framework_simplejwt.tokens import RefreshToken

from mifumo.tenancy import services
from mifumo.tenancy.filters import IsoDateTimeFilter
from mifumo.tenancy.models import ApiKey, AuditAction, AuditOutcome, AuditRecord, User
from mifumo.tenancy.permissions import IsTenantAdmin
from mifumo.tenancy.scoping import TenantScopedMixin
from mifumo.tenancy.serializers import (
    ApiKeyCreatedSerializer,
    ApiKeyCreateSerializer,
    ApiKeySerializer,
    AuditRecordSerializer,
    MeSerializer,
    RegisterResponseSerializer,
    RegisterSerializer,
    TokenBlacklistSerializer,
    TokenObtainPairSerializer,
    UserCreateSerializer,
    UserSerializer,
    UserUpdateSerializer,
)
from mifumo.tenancy.throttles import AuthThrottle


class RegisterView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthThrottle]

    @extend_schema(request=RegisterSerializer, responses={201: RegisterResponseSerializer})
    def post(self, request):
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = services.tenant_register(
            organization=data["organization"],
            name=data["name"],
            email=data["email"],
            password=data["password"],
            country=data["country"],
            timezone_name=data.get("timezone"),
        )
        refresh = RefreshToken.for_user(user)
        body = {
            "tenant": user.membership.tenant,
            "user": user,
            "access": str(refresh.access_token),
            "refresh": str(refresh),
        }
        return Response(RegisterResponseSerializer(body).data, status=status.HTTP_201_CREATED)


class TokenObtainView(jwt_views.TokenObtainPairView):
    serializer_class = TokenObtainPairSerializer
    throttle_classes = [AuthThrottle]


class TokenRefreshView(jwt_views.TokenRefreshView):
    throttle_classes = [AuthThrottle]


class LogoutView(jwt_views.TokenBlacklistView):
    """Blacklist a refresh token: it can no longer be used to get access tokens."""

    serializer_class = TokenBlacklistSerializer
    throttle_classes = [AuthThrottle]


class MeView(APIView):
    @extend_schema(responses=MeSerializer)
    def get(self, request):
        body = {
            "user": request.user,
            "tenant": request.tenant,
            "role": request.role,
            "auth": "api_key" if request.api_key else "jwt",
        }
        return Response(MeSerializer(body).data)


class UserQuerysetMixin:
    permission_classes = [IsTenantAdmin]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request tenant
            return User.objects.none()
        # Users are tenant-owned through their membership.
        return (
            User.objects.filter(membership__tenant=self.request.tenant)
            .select_related("membership")
            .order_by("date_joined", "email")
        )


class UserListView(UserQuerysetMixin, generics.ListAPIView):
    """Admins list the organisation's users and add new ones."""

    serializer_class = UserSerializer
    audit_action = AuditAction.USER_ADD

    @extend_schema(request=UserCreateSerializer, responses={201: UserSerializer})
    def post(self, request):
        serializer = UserCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_add(tenant=request.tenant, **serializer.validated_data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class UserDetailView(UserQuerysetMixin, generics.RetrieveAPIView):
    """Admins change a user's name or role, and deactivate (DELETE) or reactivate them."""

    serializer_class = UserSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]
    audit_action = AuditAction.USER_UPDATE

    @extend_schema(request=UserUpdateSerializer, responses=UserSerializer)
    def patch(self, request, pk):
        user = self.get_object()
        serializer = UserUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_update(
            tenant=request.tenant, user_id=user.pk, **serializer.validated_data
        )
        return Response(UserSerializer(user).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk):
        """Deactivate: the user keeps their history but can no longer sign in."""
        user = self.get_object()
        services.user_update(tenant=request.tenant, user_id=user.pk, is_active=False)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiKeyListView(TenantScopedMixin, generics.ListAPIView):
    permission_classes = [IsTenantAdmin]
    serializer_class = ApiKeySerializer
    queryset = ApiKey.objects.select_related("created_by")
    audit_action = AuditAction.API_KEY_ISSUE

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedSerializer})
    def post(self, request):
        serializer = ApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key, plain = services.api_key_issue(
            tenant=request.tenant, created_by=request.user, **serializer.validated_data
        )
        key.key = plain
        return Response(ApiKeyCreatedSerializer(key).data, status=status.HTTP_201_CREATED)


class ApiKeyDetailView(TenantScopedMixin, generics.RetrieveAPIView):
    permission_classes = [IsTenantAdmin]
    serializer_class = ApiKeySerializer
    queryset = ApiKey.objects.select_related("created_by")
    audit_action = AuditAction.API_KEY_REVOKE
    http_method_names = ["get", "delete", "head", "options"]

    @extend_schema(responses={204: None})
    def delete(self, request, pk):
        """Revoke the key: requests signed with it are refused from now on."""
        services.api_key_revoke(key=get_object_or_404(self.get_queryset(), pk=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AuditRecordFilter(django_filters.FilterSet):
    action = django_filters.MultipleChoiceFilter(choices=AuditAction.choices)
    outcome = django_filters.ChoiceFilter(choices=AuditOutcome.choices)
    user = django_filters.UUIDFilter(field_name="user_id")
    api_key = django_filters.UUIDFilter(field_name="api_key_id")
    date = django_filters.DateFilter(field_name="created_at", lookup_expr="date")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")


class AuditRecordViewSet(TenantScopedMixin, viewsets.ReadOnlyModelViewSet):
    """The organisation's audit log, newest first (admins only). Read-only: records are never
    changed or deleted through the API."""

    permission_classes = [IsTenantAdmin]
    serializer_class = AuditRecordSerializer
    queryset = AuditRecord.objects.order_by("-created_at", "-id")
    filterset_class = AuditRecordFilter
