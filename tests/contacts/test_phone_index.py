"""The phone's one index (migration 0010): on PostgreSQL phone_e164 is in the "C" collation,
so contact_unique_phone serves a search by a phone's beginning (LIKE '+255712%') as a range of
the index, and the list's ordering by phone. SQLite compares bytes without being told."""

from __future__ import annotations

import re

import pytest
from django.db import connection, transaction

from mifumo.contacts.models import Contact
from tests.factories import create_contact, insert_contacts

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's collations"),
]


def plan(queryset) -> str:
    with transaction.atomic(), connection.cursor() as cursor:
        # A few hundred rows: the planner would read the table; this asks what the indexes
        # can do, with statistics to choose between them.
        cursor.execute("ANALYZE contacts_contact")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        return queryset.explain()


def test_a_search_by_a_phones_beginning_is_a_range_of_the_unique_phone_index(tenant_a):
    insert_contacts(tenant_a, 300)
    create_contact(tenant_a, phone="+255712345678")

    explained = plan(
        Contact.objects.filter(tenant=tenant_a, phone_e164__startswith="+255712").values("id")
    )

    assert "contact_unique_phone" in explained, explained
    condition = next(line for line in explained.splitlines() if "Index Cond" in line)
    assert re.search(r"phone_e164\)?(::text)? >= '\+255712'", condition), explained


def test_the_list_in_phone_order_reads_the_unique_phone_index(tenant_a):
    insert_contacts(tenant_a, 300)

    explained = plan(Contact.objects.filter(tenant=tenant_a).order_by("phone_e164")[:50])

    assert "contact_unique_phone" in explained, explained
    assert "Sort" not in explained, explained


def test_there_is_one_index_of_the_phone():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "contacts_contact")
    assert [name for name, c in constraints.items() if "phone_e164" in (c["columns"] or [])] == [
        "contact_unique_phone"
    ]
