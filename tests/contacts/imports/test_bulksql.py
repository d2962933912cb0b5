"""bulksql.insert_rows: what it writes is what it was given, however the values are sent (on
PostgreSQL a column with one value for every row goes once, not as an array)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import connection

from mifumo.contacts.imports import bulksql
from mifumo.contacts.imports.upsert import _CONTACT_COLUMNS, ordered_ids
from mifumo.contacts.models import Contact, Tag

ContactTags = Contact.tags.through
WHEN = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def _contact(contact_id, tenant, phone, name="", opted_out_at=None, attributes="{}"):
    at = connection.ops.adapt_datetimefield_value(WHEN)
    stamp = connection.ops.adapt_datetimefield_value(opted_out_at)
    return (contact_id, tenant.pk.hex, phone, name, "", attributes, True, stamp, "", at, at)


def _stored(tenant) -> list[tuple]:
    return list(
        Contact.objects.filter(tenant=tenant)
        .order_by("phone_e164")
        .values_list("phone_e164", "name", "attributes", "is_active", "opted_out_at", "created_at")
    )


def test_rows_alike_in_some_columns_keep_every_value(tenant_a):
    ids = ordered_ids(3)
    rows = [
        _contact(ids[0], tenant_a, "+255712000001", "Juma", attributes='{"class": "2B"}'),
        _contact(ids[1], tenant_a, "+255712000002", "Amina"),
        _contact(ids[2], tenant_a, "+255712000003", "Amina", opted_out_at=WHEN),
    ]

    created = bulksql.insert_rows(
        Contact,
        _CONTACT_COLUMNS,
        rows,
        conflict=["tenant_id", "phone_e164"],
        returning="phone_e164",
    )

    assert sorted(created) == ["+255712000001", "+255712000002", "+255712000003"]
    assert _stored(tenant_a) == [
        ("+255712000001", "Juma", {"class": "2B"}, True, None, WHEN),
        ("+255712000002", "Amina", {}, True, None, WHEN),
        ("+255712000003", "Amina", {}, True, WHEN, WHEN),
    ]


def test_one_row_and_rows_alike_in_every_column_are_written_once_each(tenant_a):
    (contact_id,) = ordered_ids(1)
    one = [_contact(contact_id, tenant_a, "+255712000009", "Neema")]
    assert bulksql.insert_rows(Contact, _CONTACT_COLUMNS, one, conflict=[]) == 1
    tag = Tag.objects.create(tenant=tenant_a, name="vip")
    link = (contact_id, tag.pk)

    written = bulksql.insert_rows(ContactTags, ["contact_id", "tag_id"], [link, link], conflict=[])

    assert written == 1  # the second is the same pair: ON CONFLICT DO NOTHING
    assert _stored(tenant_a) == [("+255712000009", "Neema", {}, True, None, WHEN)]
    assert list(Contact.objects.get(pk=contact_id).tags.values_list("name", flat=True)) == ["vip"]
