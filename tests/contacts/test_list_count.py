"""The contact list's `count`: exact whatever wrote the contacts. On PostgreSQL the unfiltered
list reads it from ContactCount, kept by triggers and folded by a periodic task; SQLite and
filtered lists count rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mifumo.contacts import services, tasks
from mifumo.contacts.models import Contact, ContactCount
from tests.factories import create_contact, create_tenant, insert_contacts, next_phone

URL = "/api/messaging/contacts/"
IMPORT_URL = "/api/messaging/contacts/bulk-import/"

pytestmark = pytest.mark.django_db

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the triggers are PostgreSQL's"
)


def listed_count(client, **params) -> int:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    count = response.json()["count"]
    assert type(count) is int, count  # 3, not 3.0 (PostgreSQL's sum() of bigint is numeric)
    return count


def import_csv(client, rows: list[str], *, update_existing: bool = False) -> dict:
    body = {
        "import_type": "csv",
        "csv_data": "\n".join(["name,phone_e164", *rows]),
        "skip_duplicates": True,
        "update_existing": update_existing,
    }
    response = client.post(IMPORT_URL, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_it_counts_contacts_created_one_by_one(alice_client, tenant_a):
    for _ in range(3):
        create_contact(tenant_a)

    assert listed_count(alice_client) == 3


def test_it_counts_contacts_inserted_in_one_statement(alice_client, tenant_a):
    insert_contacts(tenant_a, 120)

    assert listed_count(alice_client) == 120


def test_it_counts_a_contact_created_through_the_api(alice_client, tenant_a):
    insert_contacts(tenant_a, 2)

    response = alice_client.post(URL, {"phone_e164": "0712 345 678"}, format="json")

    assert response.status_code == 201, response.content
    assert listed_count(alice_client) == 3


def test_it_counts_down_when_a_contact_is_deleted(alice_client, tenant_a):
    keep, gone = create_contact(tenant_a), create_contact(tenant_a)

    response = alice_client.delete(f"{URL}{gone.pk}/")

    assert response.status_code == 204
    assert listed_count(alice_client) == 1
    assert [c["id"] for c in alice_client.get(URL).json()["results"]] == [str(keep.pk)]


def test_it_counts_down_after_a_bulk_delete(alice_client, tenant_a):
    contacts = insert_contacts(tenant_a, 10)

    response = alice_client.post(
        f"{URL}bulk-delete/", {"contact_ids": [str(c.pk) for c in contacts[:4]]}, format="json"
    )

    assert response.status_code == 200, response.content
    assert listed_count(alice_client) == 6


def test_it_counts_imported_contacts_but_not_updated_or_skipped_ones(alice_client, tenant_a):
    first = import_csv(alice_client, ["Amina,+255712000001", "Baraka,+255712000002"])
    # One known number (updated in place), one new.
    second = import_csv(
        alice_client, ["Amina Juma,+255712000001", "Chausiku,+255712000003"], update_existing=True
    )
    # Both known: skipped.
    third = import_csv(alice_client, ["Amina,+255712000001", "Chausiku,+255712000003"])

    assert (first["imported"], second["imported"], second["updated"]) == (2, 1, 1)
    assert third["imported"] == 0
    assert listed_count(alice_client) == 3 == Contact.objects.filter(tenant=tenant_a).count()


def test_it_keeps_opted_out_and_inactive_contacts_in_the_count(alice_client, tenant_a):
    opted_out = create_contact(tenant_a)
    create_contact(tenant_a, is_active=False)
    create_contact(tenant_a)

    response = alice_client.post(f"{URL}{opted_out.pk}/opt-out/", {"reason": "STOP"})

    assert response.status_code == 200, response.content
    assert listed_count(alice_client) == 3
    assert listed_count(alice_client, opted_out="true") == 1
    assert listed_count(alice_client, is_active="false") == 1


def test_it_counts_only_the_callers_contacts(alice_client, charlie_client, tenant_a, tenant_b):
    insert_contacts(tenant_a, 5)
    insert_contacts(tenant_b, 2)

    assert listed_count(alice_client) == 5
    assert listed_count(charlie_client) == 2


def test_it_counts_the_matching_contacts_of_a_filtered_list(alice_client, tenant_a):
    create_contact(tenant_a, name="Juma Mushi", tags=["vip"])
    create_contact(tenant_a, name="Neema Massawe")
    insert_contacts(tenant_a, 5)

    assert listed_count(alice_client, search="juma") == 1
    assert listed_count(alice_client, tag="vip") == 1
    assert listed_count(alice_client, search="   ") == 7
    assert listed_count(alice_client, search="", ordering="name") == 7


def test_it_keeps_the_count_exact_across_a_fold(alice_client, tenant_a, tenant_b):
    contacts = insert_contacts(tenant_a, 8)
    create_contact(tenant_a)
    Contact.objects.filter(pk__in=[c.pk for c in contacts[:3]]).delete()
    insert_contacts(tenant_b, 4)

    tasks.fold_contact_counts()
    folded = listed_count(alice_client)
    create_contact(tenant_a)

    assert folded == 6
    assert listed_count(alice_client) == 7


@postgres_only
def test_it_folds_each_tenants_rows_into_one(tenant_a, tenant_b):
    insert_contacts(tenant_a, 3)
    create_contact(tenant_a)
    insert_contacts(tenant_b, 2)
    assert ContactCount.objects.filter(tenant=tenant_a).count() == 2

    folded = services.contact_counts_fold()

    assert folded == 2
    rows = ContactCount.objects.order_by("count").values_list("tenant_id", "count", "is_squashed")
    assert list(rows) == [(tenant_b.pk, 2, True), (tenant_a.pk, 4, True)]
    assert services.contact_counts_fold() == 0


@postgres_only
def test_it_counts_only_the_rows_an_insert_on_conflict_really_inserted(tenant_a):
    known = create_contact(tenant_a).phone_e164
    new = next_phone()

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO contacts_contact (id, tenant_id, name, phone_e164, email, attributes, "
            "is_active, opt_out_reason, created_at, updated_at) "
            "SELECT gen_random_uuid(), %s, 'x', phone, '', '{}', TRUE, '', now(), now() "
            "FROM unnest(%s::text[]) AS phone "
            "ON CONFLICT (tenant_id, phone_e164) DO UPDATE SET name = EXCLUDED.name",
            [tenant_a.pk, [known, new]],
        )

    assert ContactCount.total_for(tenant_a) == 2


@postgres_only
def test_it_reads_the_unfiltered_total_without_counting_contacts(alice_client, tenant_a):
    insert_contacts(tenant_a, 3)

    with CaptureQueriesContext(connection) as captured:
        assert listed_count(alice_client) == 3

    sqls = [query["sql"] for query in captured]
    assert [sql for sql in sqls if "COUNT(*)" in sql and 'FROM "contacts_contact" ' in sql] == []
    assert [sql for sql in sqls if 'FROM "contacts_contactcount"' in sql]


@postgres_only
def test_it_forgets_a_deleted_tenants_counts(tenant_a):
    doomed = create_tenant("Doomed")
    insert_contacts(doomed, 3)
    insert_contacts(tenant_a, 1)

    doomed.delete()

    assert list(ContactCount.objects.values_list("tenant_id", flat=True)) == [tenant_a.pk]


def test_it_folds_the_counts_every_minute(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["fold-contact-counts"]

    assert entry == {"task": tasks.fold_contact_counts.name, "schedule": 60.0}
