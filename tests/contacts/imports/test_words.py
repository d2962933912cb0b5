"""The name-search words an import leaves behind (PostgreSQL's word triggers, migration 0007):
one row per contact and distinct word of its name, whether the import created the contact,
renamed it, or left its name alone."""

from __future__ import annotations

import pytest
from django.db import connection

from mifumo.contacts.filters import name_words
from mifumo.contacts.imports.services import contacts_bulk_import
from mifumo.contacts.models import Contact, ContactWord

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite keeps no table of words"
)

NAMES = [
    "Juma Mushi",
    "Juma  juma-MUSHI",  # a word twice: one row
    " Anna-Maria O'Neil (Mama Neema) ",
    "Zuhura\u00a0Said;Ally:Temba",
    "Ñandú Çelik Émile",
    "",  # no words at all
    "x",
]


def _csv(names: list[str], first_phone: int) -> bytes:
    lines = ["name,phone"]
    for index, name in enumerate(names):
        quoted = '"' + name.replace('"', '""') + '"'
        lines.append(f"{quoted},+2557120{first_phone + index:05d}")
    return "\n".join(lines).encode()


def _expected(tenant) -> set[tuple]:
    rows = set()
    for contact in Contact.objects.filter(tenant=tenant):
        words = name_words(contact.name)
        text = " " + " ".join(words) + " "
        rows |= {(contact.pk, word, text, contact.created_at) for word in words}
    return rows


def _stored(tenant) -> set[tuple]:
    return set(
        ContactWord.objects.filter(tenant=tenant).values_list(
            "contact_id", "word", "words", "created_at"
        )
    )


def test_imported_names_have_their_words_once_each(tenant_a):
    contacts_bulk_import(tenant=tenant_a, data=_csv(NAMES, 0))

    stored = _stored(tenant_a)
    assert stored == _expected(tenant_a)
    assert len(stored) == 2 + 2 + 6 + 4 + 3 + 0 + 1


def test_renamed_contacts_have_their_new_words_and_others_keep_theirs(tenant_a):
    contacts_bulk_import(tenant=tenant_a, data=_csv(NAMES, 0))
    renamed = ["Baraka Baraka Komba", "Lulu"]  # the first two phones get new names
    untouched_before = {r for r in _stored(tenant_a) if r[1] in ("anna", "zuhura", "x")}

    result = contacts_bulk_import(tenant=tenant_a, data=_csv(renamed, 0), update_existing=True)

    assert result.updated == 2
    stored = _stored(tenant_a)
    assert stored == _expected(tenant_a)
    assert {r[1] for r in stored} >= {"baraka", "komba", "lulu"}
    assert "mushi" not in {r[1] for r in stored}
    assert untouched_before <= stored


@pytest.mark.django_db
def test_the_word_table_is_vacuumed_after_ten_thousand_changed_rows():
    # Migration 0008: renames churn the word rows; the default (a fifth of the table) would
    # leave name searches reading the heap for days on a big tenant.
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'contacts_contactword'")
        (options,) = cursor.fetchone()
    assert {"autovacuum_vacuum_scale_factor=0", "autovacuum_vacuum_threshold=10000"} <= set(
        options or []
    )
