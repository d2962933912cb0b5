from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from mifumo.tenancy.models import ApiKey, AuditRecord, Membership, Tenant, User


class MembershipInline(admin.StackedInline):
    model = Membership
    extra = 0


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "default_region", "timezone", "is_active", "created_at"]
    list_filter = ["is_active", "default_region"]
    search_fields = ["name"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_active", "is_staff", "date_joined"]
    search_fields = ["email", "name"]
    inlines = [MembershipInline]
    fieldsets = [
        (None, {"fields": ["email", "name", "password"]}),
        ("Status", {"fields": ["is_active", "is_staff", "is_superuser"]}),
    ]
    add_fieldsets = [(None, {"fields": ["email", "name", "password1", "password2"]})]
    filter_horizontal = []
    list_filter = ["is_active", "is_staff"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant", "role", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["lookup_id", "secret_hash"]


@admin.register(AuditRecord)
class AuditRecordAdmin(admin.ModelAdmin):
    """Platform operators read every tenant's audit log; nobody edits or deletes it."""

    list_display = ["created_at", "tenant", "action", "outcome", "actor", "request_id"]
    list_filter = ["action", "outcome"]
    search_fields = ["tenant__name", "actor", "request_id"]
    list_select_related = ["tenant"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
