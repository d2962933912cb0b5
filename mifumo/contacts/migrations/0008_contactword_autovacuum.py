"""Autovacuum visits the word table after 10,000 changed rows, not after a fifth of it.

A rename deletes a contact's word rows and inserts new ones (0005's triggers); the index-only
scans of a name search then visit the heap for every page whose visibility is unknown. With
PostgreSQL's default (20% of the table: 460,000 of a million contacts' 2.3 million words),
thousands of renames leave searches slow until a far-off vacuum: "juma mushi" read 13,457
heap pages in 94.6 ms before a VACUUM and took 25 ms after (EXPLAIN ANALYZE, one pair,
bench/contacts_list.py's data after its bulk edits). SQLite has no autovacuum: nothing there.
"""

from django.db import migrations

SET = (
    "ALTER TABLE contacts_contactword SET "
    "(autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000)"
)
RESET = (
    "ALTER TABLE contacts_contactword RESET "
    "(autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold)"
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(SET)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(RESET)


class Migration(migrations.Migration):
    dependencies = [("contacts", "0007_contact_words_cheaper")]

    operations = [migrations.RunPython(forwards, backwards)]
