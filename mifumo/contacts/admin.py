from django.contrib import admin

from mifumo.contacts.models import Contact, ContactGroup, ContactTag, Group, Tag


class ContactTagInline(admin.TabularInline):
    model = ContactTag
    raw_id_fields = ["tag"]
    extra = 0


class ContactGroupInline(admin.TabularInline):
    model = ContactGroup
    raw_id_fields = ["group"]
    extra = 0


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["name", "phone_e164", "email", "tenant", "is_active", "opted_out_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "phone_e164", "email"]
    raw_id_fields = ["tenant", "guardians"]
    # Tags and groups have through models of their own (models.ContactTag), which the
    # admin edits as inlines, not as a two-list widget.
    inlines = [ContactTagInline, ContactGroupInline]


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "tenant", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant"]
    search_fields = ["name"]
