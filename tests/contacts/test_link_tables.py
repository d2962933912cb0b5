"""The tag and group link tables (models.ContactTag, ContactGroup): no foreign-key constraints
in the database (migration 0009), so what deletes a contact, a tag, a group or a tenant must
delete its links itself. These tests check that every such delete leaves no link behind, and
that the migration kept the links that were there."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from mifumo.contacts.models import Contact, ContactGroup, ContactTag, Group, Tag
from mifumo.tenancy.models import Tenant, User
from tests.factories import PASSWORD, create_contact, create_group, create_tenant

pytestmark = pytest.mark.django_db


def tagged_contact(tenant: Tenant, *tags: str) -> Contact:
    group = create_group(tenant)
    return create_contact(tenant, tags=list(tags), group_ids=[group.pk])


def links_of(contact: Contact) -> tuple[int, int]:
    return (
        ContactTag.objects.filter(contact_id=contact.pk).count(),
        ContactGroup.objects.filter(contact_id=contact.pk).count(),
    )


def test_deleting_a_contact_deletes_its_links(alice_client, tenant_a):
    contact = tagged_contact(tenant_a, "vip", "wazazi")
    assert links_of(contact) == (2, 1)

    response = alice_client.delete(f"/api/messaging/contacts/{contact.pk}/")

    assert response.status_code == 204, response.content
    assert links_of(contact) == (0, 0)


def test_a_bulk_delete_deletes_the_contacts_links_and_no_others(alice_client, tenant_a):
    doomed = [tagged_contact(tenant_a, "vip") for _ in range(3)]
    kept = tagged_contact(tenant_a, "vip")

    response = alice_client.post(
        "/api/messaging/contacts/bulk-delete/", {"contact_ids": [str(c.pk) for c in doomed]}
    )

    assert response.status_code == 200, response.content
    assert [links_of(c) for c in doomed] == [(0, 0)] * 3
    assert links_of(kept) == (1, 1)


def test_deleting_a_group_deletes_its_memberships_only(alice_client, tenant_a):
    contact = tagged_contact(tenant_a, "vip")
    group = Group.objects.get()

    response = alice_client.delete(f"/api/messaging/groups/{group.pk}/")

    assert response.status_code == 204, response.content
    assert links_of(contact) == (1, 0)


def test_deleting_a_tag_deletes_its_links_only(tenant_a):
    contact = tagged_contact(tenant_a, "vip", "wazazi")

    Tag.objects.get(name="vip").delete()

    assert list(contact.tags.values_list("name", flat=True)) == ["wazazi"]
    assert links_of(contact) == (1, 1)


def test_deleting_a_tenant_deletes_its_links_and_no_other_tenants():
    doomed, kept = create_tenant(), create_tenant()
    tagged_contact(doomed, "vip")
    survivor = tagged_contact(kept, "vip")

    doomed.delete()

    assert ContactTag.objects.count() == 1
    assert ContactGroup.objects.count() == 1
    assert links_of(survivor) == (1, 1)


@pytest.mark.parametrize(
    ("table", "other"),
    [("contacts_contact_tags", "tag_id"), ("contacts_contact_groups", "group_id")],
)
def test_the_link_tables_have_no_foreign_keys_and_no_index_on_contact_alone(table, other):
    # Migration 0009: the unique (contact_id, other) index serves lookups by contact.
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    assert not [name for name, c in constraints.items() if c["foreign_key"]]
    indexed = {
        tuple(c["columns"])
        for c in constraints.values()
        if (c["index"] or c["unique"]) and not c["primary_key"]
    }
    assert indexed == {("contact_id", other), (other,)}


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_the_links_that_were_there():
    executor = MigrationExecutor(connection)
    before, after = (
        [("contacts", "0008_contactword_autovacuum")],
        executor.loader.graph.leaf_nodes(),
    )
    try:
        executor.migrate(before)
        old = MigrationExecutor(connection).loader.project_state(before).apps
        tenant = old.get_model("tenancy", "Tenant").objects.create(
            name="Shule", default_region="TZ"
        )
        contact = old.get_model("contacts", "Contact").objects.create(
            tenant=tenant, phone_e164="+255712345678", name="Juma"
        )
        contact.tags.add(old.get_model("contacts", "Tag").objects.create(tenant=tenant, name="vip"))
        contact.groups.add(
            old.get_model("contacts", "Group").objects.create(tenant=tenant, name="Form 2B")
        )

        MigrationExecutor(connection).migrate(after)

        moved = Contact.objects.get(pk=contact.pk)
        assert list(moved.tags.values_list("name", flat=True)) == ["vip"]
        assert list(moved.groups.values_list("name", flat=True)) == ["Form 2B"]
    finally:
        MigrationExecutor(connection).migrate(after)


def test_staff_see_a_contacts_tags_and_groups_in_the_admin(tenant_a):
    # Through models of their own: the admin shows them as inlines (admin.py).
    contact = tagged_contact(tenant_a, "vip", "wazazi")
    User.objects.create_superuser(email="ops@mifumo.example", password=PASSWORD, name="Ops")
    client = Client()
    assert client.login(username="ops@mifumo.example", password=PASSWORD)

    page = client.get(f"/admin/contacts/contact/{contact.pk}/change/")

    assert page.status_code == 200
    shown = {
        inline.formset.model.__name__: sorted(
            str(form.instance) for form in inline.formset.initial_forms
        )
        for inline in page.context["inline_admin_formsets"]
    }
    tags = dict(Tag.objects.values_list("name", "pk"))
    group = Group.objects.get()
    assert shown == {
        "ContactTag": sorted(f"{contact.pk} #{tags[name]}" for name in ("vip", "wazazi")),
        "ContactGroup": [f"{contact.pk} in {group.pk}"],
    }
