"""The contact list's total kept by triggers (ContactCount), and one index fewer to write.

On SQLite (embedded) the triggers are not made: the list counts its rows there.
"""

import django.db.models.deletion
from django.db import migrations, models

# Statements apart, one per paragraph: a parameterised execute runs one statement.
TRIGGERS = """-- One row of +n per INSERT statement and tenant (COPY and INSERT ... ON CONFLICT too:
-- the transition table holds only the rows really inserted), -n per DELETE statement.
CREATE FUNCTION contacts_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO contacts_contactcount (tenant_id, count, is_squashed)
    SELECT tenant_id, count(*), FALSE FROM inserted_contacts GROUP BY tenant_id;
    RETURN NULL;
END $$;

CREATE FUNCTION contacts_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO contacts_contactcount (tenant_id, count, is_squashed)
    SELECT tenant_id, -count(*), FALSE FROM deleted_contacts GROUP BY tenant_id;
    RETURN NULL;
END $$;

CREATE FUNCTION contacts_count_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM contacts_contactcount;
    RETURN NULL;
END $$;

CREATE TRIGGER contacts_count_on_insert AFTER INSERT ON contacts_contact
    REFERENCING NEW TABLE AS inserted_contacts
    FOR EACH STATEMENT EXECUTE FUNCTION contacts_count_inserted();

CREATE TRIGGER contacts_count_on_delete AFTER DELETE ON contacts_contact
    REFERENCING OLD TABLE AS deleted_contacts
    FOR EACH STATEMENT EXECUTE FUNCTION contacts_count_deleted();

CREATE TRIGGER contacts_count_on_truncate AFTER TRUNCATE ON contacts_contact
    FOR EACH STATEMENT EXECUTE FUNCTION contacts_count_truncated();

-- Deleting a tenant deletes its contacts first (Django's cascade), whose trigger adds a row
-- here; the database then removes the tenant's rows with the tenant itself.
ALTER TABLE contacts_contactcount ADD CONSTRAINT contact_count_tenant_fk
    FOREIGN KEY (tenant_id) REFERENCES tenancy_tenant (id) ON DELETE CASCADE;

-- The contacts there already. CREATE TRIGGER has locked the table against writes until this
-- migration commits, so none is missed or counted twice.
INSERT INTO contacts_contactcount (tenant_id, count, is_squashed)
SELECT tenant_id, count(*), TRUE FROM contacts_contact GROUP BY tenant_id;"""

DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS contacts_count_on_insert ON contacts_contact;
DROP TRIGGER IF EXISTS contacts_count_on_delete ON contacts_contact;
DROP TRIGGER IF EXISTS contacts_count_on_truncate ON contacts_contact;
DROP FUNCTION IF EXISTS contacts_count_inserted();
DROP FUNCTION IF EXISTS contacts_count_deleted();
DROP FUNCTION IF EXISTS contacts_count_truncated();
ALTER TABLE contacts_contactcount DROP CONSTRAINT IF EXISTS contact_count_tenant_fk;
DELETE FROM contacts_contactcount;
"""


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in TRIGGERS.split("\n\n"):
            schema_editor.execute(statement)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP_TRIGGERS.strip().splitlines():
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0003_import_jobs"),
        ("tenancy", "0002_tenant_allowed_countries"),
    ]

    operations = [
        migrations.AlterField(
            model_name="contact",
            name="tenant",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="contacts",
                to="tenancy.tenant",
            ),
        ),
        migrations.CreateModel(
            name="ContactCount",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("count", models.BigIntegerField()),
                ("is_squashed", models.BooleanField(default=False)),
                (
                    "tenant",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="tenancy.tenant",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(fields=["tenant"], name="contact_count_tenant"),
                    models.Index(
                        condition=models.Q(("is_squashed", False)),
                        fields=["tenant"],
                        name="contact_count_unsquashed",
                    ),
                ],
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
