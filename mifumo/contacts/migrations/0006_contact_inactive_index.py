"""One B-tree fewer for every contact an import writes: (tenant, is_active) becomes a partial
index of the inactive contacts alone, in the list's order.

The old index served ?is_active= only. For ?is_active=true, nearly every contact, it was no
better than walking contact_list_order with a filter; ?is_active=false, the few, is what the
partial index serves, page and count, and imports (whose contacts are active) never write it.

On PostgreSQL an import job's file (now a workbook's rows, as JSON: read_rows.py) is stored
out of line without compression: pglz spent more of the server's time compressing 4 MB of
rows per 50,000 than the index above cost, and a compressed value is decompressed from its
start for every slice a worker reads (files.py).
"""

from django.db import migrations, models


def store_uncompressed(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE contacts_importjob ALTER COLUMN file_data SET STORAGE EXTERNAL"
        )


def store_compressed(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE contacts_importjob ALTER COLUMN file_data SET STORAGE EXTENDED"
        )


class Migration(migrations.Migration):
    dependencies = [("contacts", "0005_contact_words")]

    operations = [
        migrations.RemoveIndex(model_name="contact", name="contact_tenant_active"),
        migrations.AddIndex(
            model_name="contact",
            index=models.Index(
                condition=models.Q(("is_active", False)),
                fields=["tenant", "-created_at", "-id"],
                name="contact_inactive",
            ),
        ),
        migrations.RunPython(store_uncompressed, store_compressed),
    ]
