"""Phone numbers in the "C" collation on PostgreSQL (models.E164Field), so that
contact_unique_phone serves searches by a phone's beginning as well, and the second index of
the phone (contact_phone_prefix, varchar_pattern_ops, migration 0002) goes: one index fewer to
write for every contact an import adds and every contact an edit renames, and, for a large
tenant, half the randomly placed index pages (phones arrive in no order) that an import
reads and writes back.

The index and the column change on PostgreSQL only: SQLite compares bytes already, and Django would
rebuild its whole table for a field whose class changed.
"""

from django.db import migrations

import mifumo.contacts.models


def _on_postgresql(*statements: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0009_link_tables_without_foreign_keys"),
    ]

    operations = [
        migrations.RunPython(
            # Before the column changes, so that PostgreSQL does not rebuild it first.
            _on_postgresql("DROP INDEX IF EXISTS contact_phone_prefix"),
            _on_postgresql(
                "CREATE INDEX IF NOT EXISTS contact_phone_prefix "
                "ON contacts_contact (tenant_id, phone_e164 varchar_pattern_ops)"
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="contact",
                    name="phone_e164",
                    field=mifumo.contacts.models.E164Field(max_length=16),
                ),
            ],
            database_operations=[
                migrations.RunPython(
                    # Rebuilds contact_unique_phone in the new collation.
                    _on_postgresql(
                        'ALTER TABLE contacts_contact ALTER COLUMN phone_e164 TYPE varchar(16) COLLATE "C"'
                    ),
                    _on_postgresql(
                        "ALTER TABLE contacts_contact ALTER COLUMN phone_e164 TYPE varchar(16) "
                        'COLLATE "default"'
                    ),
                ),
            ],
        ),
    ]
