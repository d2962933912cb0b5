"""Name search by the beginnings of words (ContactWord), kept by triggers on PostgreSQL.

A row per contact and distinct word of its name, written by per-statement triggers on
contacts_contact (INSERT, UPDATE of the name or created_at, DELETE, TRUNCATE), so an import's
INSERT ... ON CONFLICT of thousands of rows writes its words in one more statement. The name's
trigram index goes: ?search= no longer matches names by substring, and every import wrote it.

On SQLite (embedded) nothing is made: its search reads the names themselves (filters.py).
"""

import django.db.models.deletion
from django.db import migrations, models

# The separators of words, as filters.WORD_SEPARATORS says (tests check they agree): white
# space and - . , ' " ( ) / & _ ; : -- inside a bracket expression, ' doubled for SQL.
SEPARATORS = "[ \t\r\n\u00a0.,''\"()/&_;:-]"

CREATE = f"""CREATE TABLE contacts_contactword (
    tenant_id uuid NOT NULL,
    word text COLLATE "C" NOT NULL,
    contact_id uuid NOT NULL,
    created_at timestamptz NOT NULL,
    words text COLLATE "C" NOT NULL,
    -- ?search=juma mushi: the words beginning with "mushi" (a range of this key: the C
    -- collation orders by bytes) whose contact's words hold one beginning with "juma", in
    -- created_at order, and their number: all read from this index alone.
    PRIMARY KEY (tenant_id, word, contact_id) INCLUDE (created_at, words)
);

-- ' juma mushi ': the name's words, lower case, one space apart, a space at each end.
CREATE FUNCTION contacts_name_words(name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ' ' || trim(regexp_replace(lower(name), '{SEPARATORS}+', ' ', 'g')) || ' '
$$;

-- jit = off in every trigger here: regexp_split_to_table is planned at 1,000 words a name, so
-- an import's chunk of 5,000 contacts looked like 5 million rows, and PostgreSQL spent 400 ms
-- compiling the INSERT (EXPLAIN ANALYZE under load) to write 11,000 words in 300 ms. DISTINCT
-- drops a name's repeated word ("Juma Juma"): ON CONFLICT DO NOTHING cost 1.5 times as much.
CREATE FUNCTION contacts_words_inserted() RETURNS trigger LANGUAGE plpgsql SET jit = off AS $$
BEGIN
    INSERT INTO contacts_contactword (tenant_id, word, contact_id, created_at, words)
    SELECT DISTINCT c.tenant_id, w.word, c.id, c.created_at, c.words
    FROM (SELECT tenant_id, id, created_at, contacts_name_words(name) AS words
          FROM inserted_contacts) c,
         regexp_split_to_table(trim(c.words), ' ') AS w(word)
    WHERE w.word <> '';
    RETURN NULL;
END $$;

-- By the whole key (a contact's words are its name's), so no index on contact_id is needed,
-- nor written by imports: word = ANY(...) probes the key once a word.
CREATE FUNCTION contacts_words_deleted() RETURNS trigger LANGUAGE plpgsql SET jit = off AS $$
BEGIN
    DELETE FROM contacts_contactword cw
    USING deleted_contacts c
    WHERE cw.tenant_id = c.tenant_id AND cw.contact_id = c.id
      AND cw.word = ANY (string_to_array(trim(contacts_name_words(c.name)), ' '));
    RETURN NULL;
END $$;

-- Most updates leave the name alone (opt-outs, attributes, an import's other columns): they
-- cost a join of the transition tables and nothing else. The contacts renamed are put apart
-- first (MATERIALIZED): joined in the DELETE, the planner probed the words of every updated
-- contact 100 times over (26 ms for a bulk edit of 100).
CREATE FUNCTION contacts_words_updated() RETURNS trigger LANGUAGE plpgsql SET jit = off AS $$
BEGIN
    IF NOT EXISTS (
        SELECT FROM old_contacts o JOIN new_contacts n ON n.id = o.id
        WHERE (n.name, n.created_at) IS DISTINCT FROM (o.name, o.created_at)
    ) THEN
        RETURN NULL;
    END IF;
    WITH renamed AS MATERIALIZED (
        SELECT o.tenant_id, o.id, o.name FROM old_contacts o JOIN new_contacts n ON n.id = o.id
        WHERE (n.name, n.created_at) IS DISTINCT FROM (o.name, o.created_at)
    )
    DELETE FROM contacts_contactword cw
    USING renamed c
    WHERE cw.tenant_id = c.tenant_id AND cw.contact_id = c.id
      AND cw.word = ANY (string_to_array(trim(contacts_name_words(c.name)), ' '));
    INSERT INTO contacts_contactword (tenant_id, word, contact_id, created_at, words)
    SELECT DISTINCT c.tenant_id, w.word, c.id, c.created_at, c.words
    FROM (SELECT n.tenant_id, n.id, n.created_at, contacts_name_words(n.name) AS words
          FROM old_contacts o JOIN new_contacts n ON n.id = o.id
          WHERE (n.name, n.created_at) IS DISTINCT FROM (o.name, o.created_at)) c,
         regexp_split_to_table(trim(c.words), ' ') AS w(word)
    WHERE w.word <> '';
    RETURN NULL;
END $$;

CREATE FUNCTION contacts_words_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE contacts_contactword;
    RETURN NULL;
END $$;

CREATE TRIGGER contacts_words_on_insert AFTER INSERT ON contacts_contact
    REFERENCING NEW TABLE AS inserted_contacts
    FOR EACH STATEMENT EXECUTE FUNCTION contacts_words_inserted();

CREATE TRIGGER contacts_words_on_update AFTER UPDATE ON contacts_contact
    REFERENCING OLD TABLE AS old_contacts NEW TABLE AS new_contacts
    FOR EACH STATEMENT EXECUTE FUNCTION contacts_words_updated();

CREATE TRIGGER contacts_words_on_delete AFTER DELETE ON contacts_contact
    REFERENCING OLD TABLE AS deleted_contacts
    FOR EACH STATEMENT EXECUTE FUNCTION contacts_words_deleted();

CREATE TRIGGER contacts_words_on_truncate AFTER TRUNCATE ON contacts_contact
    FOR EACH STATEMENT EXECUTE FUNCTION contacts_words_truncated();

-- The contacts there already (CREATE TRIGGER has locked the table against writes until this
-- migration commits, so none is missed or written twice).
INSERT INTO contacts_contactword (tenant_id, word, contact_id, created_at, words)
SELECT DISTINCT c.tenant_id, w.word, c.id, c.created_at, c.words
FROM (SELECT tenant_id, id, created_at, contacts_name_words(name) AS words
      FROM contacts_contact) c,
     regexp_split_to_table(trim(c.words), ' ') AS w(word)
WHERE w.word <> '';

DROP INDEX IF EXISTS contact_name_trgm"""

DROP = """DROP TRIGGER IF EXISTS contacts_words_on_insert ON contacts_contact;
DROP TRIGGER IF EXISTS contacts_words_on_update ON contacts_contact;
DROP TRIGGER IF EXISTS contacts_words_on_delete ON contacts_contact;
DROP TRIGGER IF EXISTS contacts_words_on_truncate ON contacts_contact;
DROP FUNCTION IF EXISTS contacts_words_inserted();
DROP FUNCTION IF EXISTS contacts_words_updated();
DROP FUNCTION IF EXISTS contacts_words_deleted();
DROP FUNCTION IF EXISTS contacts_words_truncated();
DROP FUNCTION IF EXISTS contacts_name_words(text);
DROP TABLE IF EXISTS contacts_contactword"""

NAME_TRIGRAM = (
    "CREATE INDEX IF NOT EXISTS contact_name_trgm "
    "ON contacts_contact USING gin (UPPER(name) gin_trgm_ops)"
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in CREATE.split("\n\n"):
            schema_editor.execute(statement)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP.split(";\n"):
            schema_editor.execute(statement)
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
            if cursor.fetchone():
                schema_editor.execute(NAME_TRIGRAM)


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0004_contact_counts"),
        ("tenancy", "0002_tenant_allowed_countries"),
    ]

    operations = [
        migrations.CreateModel(
            name="ContactWord",
            fields=[
                ("pk", models.CompositePrimaryKey("tenant", "word", "contact", serialize=False)),
                ("word", models.TextField()),
                ("created_at", models.DateTimeField()),
                ("words", models.TextField()),
                (
                    "contact",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="contacts.contact",
                    ),
                ),
                (
                    "tenant",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="tenancy.tenant",
                    ),
                ),
            ],
            options={"managed": False},
        ),
        migrations.RunPython(create, drop),
    ]
