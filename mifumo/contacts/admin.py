from django.contrib import admin

from mifumo.contacts.models import Contact, Group, Tag


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["name", "phone_e164", "email", "tenant", "is_active", "opted_out_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "phone_e164", "email"]
    raw_id_fields = ["tenant", "guardians"]
    filter_horizontal = ["tags", "groups"]


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "tenant", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant"]
    search_fields = ["name"]
