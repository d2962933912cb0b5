"""Indexes only PostgreSQL has, for searching a million contacts quickly.

On SQLite (the embedded mode) this migration does nothing: its scans are fast enough at the
sizes one machine's SQLite holds.
"""

import logging

from django.db import migrations, transaction

logger = logging.getLogger(__name__)

PHONE_PREFIX = (
    # ?search=+25571 / 0712 / 712: phone_e164 LIKE '+255712%'. A plain btree cannot serve LIKE
    # under a non-C collation; varchar_pattern_ops can.
    "CREATE INDEX IF NOT EXISTS contact_phone_prefix "
    "ON contacts_contact (tenant_id, phone_e164 varchar_pattern_ops)"
)
TRIGRAM = [
    # ?search=juma: Django's icontains is UPPER(name::text) LIKE UPPER('%juma%'); a trigram
    # GIN index on the same expression serves it without reading every row.
    "CREATE INDEX IF NOT EXISTS contact_name_trgm "
    "ON contacts_contact USING gin (UPPER(name) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS contact_email_trgm "
    "ON contacts_contact USING gin (UPPER(email) gin_trgm_ops)",
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(PHONE_PREFIX)
    try:
        # A savepoint: if the extension is refused, the migration's transaction lives on.
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception:  # noqa: BLE001 - a database user may lack the right; search still works
        logger.warning("pg_trgm is not available: name and e-mail search will scan the table")
        return
    for statement in TRIGRAM:
        schema_editor.execute(statement)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in ("contact_phone_prefix", "contact_name_trgm", "contact_email_trgm"):
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("contacts", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
