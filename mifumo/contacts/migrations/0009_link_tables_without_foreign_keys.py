"""Contact.tags and Contact.groups get through models of their own (ContactTag, ContactGroup)
over the tables Django made for them, so that the tables' constraints and indexes can be
chosen: no foreign-key constraints in the database, and no index on contact_id alone (the
unique (contact_id, tag_id) index begins with it). Why: see ContactTag.

First the models are declared as the tables are now (state only: nothing in the database
changes), then their fields are altered as any model's, which drops the constraints and the
index on PostgreSQL and rebuilds the tables on SQLite.
"""

import django.db.models.deletion
from django.db import migrations, models


def _link_model(name: str, table: str, other: str, other_model: str):
    """The model Django had made for the M2M field: its id, two foreign keys with their
    constraints and indexes, unique together."""
    return migrations.CreateModel(
        name=name,
        fields=[
            (
                "id",
                models.BigAutoField(
                    auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                ),
            ),
            (
                "contact",
                models.ForeignKey(
                    on_delete=django.db.models.deletion.CASCADE,
                    related_name="+",
                    to="contacts.contact",
                ),
            ),
            (
                other,
                models.ForeignKey(
                    on_delete=django.db.models.deletion.CASCADE,
                    related_name="+",
                    to=other_model,
                ),
            ),
        ],
        options={"db_table": table, "unique_together": {("contact", other)}},
    )


def _without_constraint(model_name: str, name: str, to: str, db_index: bool = True):
    """The link model's foreign key, altered to no constraint in the database (and, with
    db_index=False, no index of its own)."""
    return migrations.AlterField(
        model_name=model_name,
        name=name,
        field=models.ForeignKey(
            db_constraint=False,
            db_index=db_index,
            on_delete=django.db.models.deletion.CASCADE,
            related_name="+",
            to=to,
        ),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0008_contactword_autovacuum"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                _link_model("ContactTag", "contacts_contact_tags", "tag", "contacts.tag"),
                _link_model("ContactGroup", "contacts_contact_groups", "group", "contacts.group"),
                migrations.AlterField(
                    model_name="contact",
                    name="tags",
                    field=models.ManyToManyField(
                        blank=True,
                        related_name="contacts",
                        through="contacts.ContactTag",
                        to="contacts.tag",
                    ),
                ),
                migrations.AlterField(
                    model_name="contact",
                    name="groups",
                    field=models.ManyToManyField(
                        blank=True,
                        related_name="contacts",
                        through="contacts.ContactGroup",
                        to="contacts.group",
                    ),
                ),
            ],
        ),
        _without_constraint("contacttag", "contact", "contacts.contact", db_index=False),
        _without_constraint("contacttag", "tag", "contacts.tag"),
        _without_constraint("contactgroup", "contact", "contacts.contact", db_index=False),
        _without_constraint("contactgroup", "group", "contacts.group"),
    ]
