"""?search= by name: every word of the query begins a word of the contact's name, as phone
contact apps search ("ju mu" finds Juma Mushi; "juma" finds Jumanne, not Mwajuma). E-mails
match anywhere when the query has an @ or a dot.

Every test runs on both databases (SQLite splits the names itself; PostgreSQL reads
ContactWord, kept by triggers), so both give the same answers. A name search alone is paged and
counted from ContactWord on PostgreSQL (filters.NameSearchPaginator); with another filter it is a
condition on the contacts: both must list the same contacts in the same order.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils.timezone import now

from mifumo.contacts import services
from mifumo.contacts.filters import WORD_SEPARATORS, NameSearch, name_words
from mifumo.contacts.models import Contact, ContactWord
from tests.factories import create_contact, next_phone

URL = "/api/messaging/contacts/"
IMPORT_URL = "/api/messaging/contacts/bulk-import/"

pytestmark = pytest.mark.django_db

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="ContactWord and its triggers are PostgreSQL's"
)


def found(client, query: str, **params) -> list[str]:
    """Names listed for the search, in the list's order (all pages of 500)."""
    response = client.get(URL, {"search": query, "page_size": 500, **params})
    assert response.status_code == 200, response.content
    return [contact["name"] for contact in response.json()["results"]]


def both_paths(client, query: str) -> list[str]:
    """The search alone and the search with a filter that keeps every contact: the same."""
    alone = found(client, query)
    filtered = found(client, query, is_active="true")
    assert alone == filtered
    return alone


def contacts_named(tenant, *names: str) -> list[Contact]:
    """Contacts created a minute apart, the first oldest: the list shows the last first."""
    start = now() - timedelta(days=1)
    return [
        Contact.objects.create(
            tenant=tenant,
            name=name,
            phone_e164=next_phone(),
            created_at=start + timedelta(minutes=i),
        )
        for i, name in enumerate(names)
    ]


# --- What matches ------------------------------------------------------------------------------


def test_it_finds_names_by_the_beginning_of_a_word(alice_client, tenant_a):
    contacts_named(tenant_a, "Juma Mushi", "Jumanne Kimaro", "Mwajuma Said", "Asha Juma")

    assert both_paths(alice_client, "juma") == ["Asha Juma", "Jumanne Kimaro", "Juma Mushi"]


def test_it_finds_a_name_by_the_beginnings_of_several_words_in_any_order(alice_client, tenant_a):
    contacts_named(tenant_a, "Juma Mushi", "Juma Kimaro", "Mussa Jumanne", "Neema Mushi")

    assert both_paths(alice_client, "ju mu") == ["Mussa Jumanne", "Juma Mushi"]
    assert both_paths(alice_client, "MUSHI juma") == ["Juma Mushi"]


def test_it_ignores_case(alice_client, tenant_a):
    contacts_named(tenant_a, "JUMA MUSHI", "neema temba")

    assert both_paths(alice_client, "jUmA") == ["JUMA MUSHI"]
    assert both_paths(alice_client, "NEEMA") == ["neema temba"]


def test_it_finds_letters_beyond_ascii_as_typed(alice_client, tenant_a):
    contacts_named(tenant_a, "Élève Mushi", "Eleve Kimaro")

    assert both_paths(alice_client, "Élève") == ["Élève Mushi"]
    assert both_paths(alice_client, "mushi élè") == (
        ["Élève Mushi"] if connection.vendor == "postgresql" else []  # SQLite folds ASCII only
    )


@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("Mwana-Asha Said", "asha"),
        ("J. Mushi", "mushi"),
        ("Mushi,Juma", "juma"),
        ("Juma (dereva)", "dereva"),
        ("Baba/Mama Neema", "mama"),
        ("O'Brien Kessy", "brien"),
        ("Shule_ya_Msingi", "msingi"),
        ("Juma;Hamisi:Ally", "ally"),
        ("Rehema\u00a0Temba", "temba"),
        ("Mama & Baba", "baba"),
    ],
)
def test_it_splits_names_into_words_at_punctuation(alice_client, tenant_a, name, query):
    contacts_named(tenant_a, name, "Someone Else")

    assert both_paths(alice_client, query) == [name]


def test_it_reads_punctuation_in_the_query_as_between_words(alice_client, tenant_a):
    contacts_named(tenant_a, "Mwana-Asha Said", "Asha Mwana", "Mwanaisha")

    assert both_paths(alice_client, "mwana-asha") == ["Asha Mwana", "Mwana-Asha Said"]


def test_it_does_not_find_a_word_in_the_middle_of_another(alice_client, tenant_a):
    contacts_named(tenant_a, "Mwajuma Said", "Hajuma")

    assert both_paths(alice_client, "juma") == []


def test_it_finds_nothing_for_a_query_of_separators_alone(alice_client, tenant_a):
    contacts_named(tenant_a, "Juma Mushi")

    assert both_paths(alice_client, "- / -") == []


def test_it_takes_a_percent_sign_literally(alice_client, tenant_a):
    contacts_named(tenant_a, "Juma 100%", "Juma 1000", "Neema")

    assert both_paths(alice_client, "100%") == ["Juma 100%"]
    assert both_paths(alice_client, "10%") == []


def test_it_lists_a_contact_once_when_several_of_its_words_match(alice_client, tenant_a):
    contacts_named(tenant_a, "Juma Jumanne", "Jumanne Juma Jumaa", "Juma Juma")

    assert both_paths(alice_client, "jum") == ["Juma Juma", "Jumanne Juma Jumaa", "Juma Jumanne"]
    assert alice_client.get(URL, {"search": "jum"}).json()["count"] == 3


def test_it_finds_e_mails_anywhere_when_the_query_has_an_at_or_a_dot(alice_client, tenant_a):
    create_contact(tenant_a, name="Asha", email="asha.juma@shule.example")
    create_contact(tenant_a, name="Neema", email="neema@other.example")

    assert found(alice_client, "juma@shule") == ["Asha"]
    assert found(alice_client, "SHULE.example") == ["Asha"]
    assert sorted(found(alice_client, ".example")) == ["Asha", "Neema"]


def test_it_does_not_search_e_mails_for_a_plain_word(alice_client, tenant_a):
    create_contact(tenant_a, name="Asha", email="juma@shule.example")

    assert found(alice_client, "juma") == []


def test_it_searches_only_the_callers_tenant(alice_client, charlie_client, tenant_a, tenant_b):
    create_contact(tenant_a, name="Juma Mushi")
    create_contact(tenant_b, name="Juma Kimaro")

    assert both_paths(alice_client, "juma") == ["Juma Mushi"]
    assert both_paths(charlie_client, "juma") == ["Juma Kimaro"]


# --- Words follow every write (PostgreSQL's triggers; SQLite reads the names) -----------------


def test_it_finds_a_contact_by_its_new_name_after_an_edit(alice_client, tenant_a):
    (contact,) = contacts_named(tenant_a, "Juma Mushi")

    response = alice_client.patch(f"{URL}{contact.pk}/", {"name": "Neema Temba"}, format="json")

    assert response.status_code == 200, response.content
    assert both_paths(alice_client, "juma") == []
    assert both_paths(alice_client, "temba") == ["Neema Temba"]


def test_it_finds_contacts_by_the_name_a_bulk_edit_gave_them(alice_client, tenant_a):
    edited = contacts_named(tenant_a, "Juma Mushi", "Juma Kimaro")
    contacts_named(tenant_a, "Juma Temba")

    response = alice_client.post(
        f"{URL}bulk-edit/",
        {"contact_ids": [str(c.pk) for c in edited], "updates": {"name": "Zawadi Swai"}},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert both_paths(alice_client, "juma") == ["Juma Temba"]
    assert both_paths(alice_client, "zawadi sw") == ["Zawadi Swai", "Zawadi Swai"]


def test_it_keeps_the_words_of_contacts_an_edit_did_not_rename(alice_client, tenant_a):
    (contact,) = contacts_named(tenant_a, "Juma Mushi")

    services.contact_opt_out(contact=contact, reason="STOP")

    assert both_paths(alice_client, "juma mu") == ["Juma Mushi"]


def test_it_forgets_deleted_contacts(alice_client, tenant_a):
    gone, _kept = contacts_named(tenant_a, "Juma Mushi", "Juma Kimaro")

    response = alice_client.post(
        f"{URL}bulk-delete/", {"contact_ids": [str(gone.pk)]}, format="json"
    )

    assert response.status_code == 200, response.content
    assert both_paths(alice_client, "juma") == ["Juma Kimaro"]
    if connection.vendor == "postgresql":
        assert not ContactWord.objects.filter(contact_id=gone.pk).exists()


def test_it_finds_imported_contacts_and_their_new_names(alice_client, tenant_a):
    create_contact(tenant_a, name="Old Name", phone="+255712000001")
    body = {
        "import_type": "csv",
        "csv_data": "name,phone_e164\nJuma Mushi,+255712000001\nJumanne Temba,+255712000002",
        "skip_duplicates": True,
        "update_existing": True,
    }

    response = alice_client.post(IMPORT_URL, body, format="json")

    assert response.status_code == 201, response.content
    assert sorted(both_paths(alice_client, "juma")) == ["Juma Mushi", "Jumanne Temba"]
    assert both_paths(alice_client, "old") == []


@postgres_only
def test_the_words_table_holds_each_word_of_a_name_once(tenant_a):
    contact = create_contact(tenant_a, name="Juma  juma-MUSHI")

    rows = ContactWord.objects.filter(contact_id=contact.pk).order_by("word")

    assert [(row.word, row.words, row.created_at) for row in rows] == [
        ("juma", " juma juma mushi ", contact.created_at),
        ("mushi", " juma juma mushi ", contact.created_at),
    ]


@postgres_only
def test_postgresql_splits_names_at_the_same_separators_as_python():
    name = "a" + "b".join(WORD_SEPARATORS) + "c"
    with connection.cursor() as cursor:
        cursor.execute("SELECT contacts_name_words(%s)", [name])
        (words,) = cursor.fetchone()

    assert words == " " + " ".join(name_words(name)) + " "
    assert len(name_words(name)) == len(WORD_SEPARATORS) + 1


# --- Pages and counts --------------------------------------------------------------------------


def test_it_pages_a_name_search_in_the_lists_order(alice_client, tenant_a):
    contacts_named(tenant_a, *[f"Juma {i:02d}" for i in range(7)], "Neema", "Jumanne")

    pages = [
        alice_client.get(URL, {"search": "juma", "page_size": 3, "page": page}).json()
        for page in (1, 2, 3)
    ]

    assert [[c["name"] for c in page["results"]] for page in pages] == [
        ["Jumanne", "Juma 06", "Juma 05"],
        ["Juma 04", "Juma 03", "Juma 02"],
        ["Juma 01", "Juma 00"],
    ]
    assert [page["count"] for page in pages] == [8, 8, 8]
    assert pages[2]["next"] is None
    past = alice_client.get(URL, {"search": "juma", "page_size": 3, "page": 4})
    assert past.status_code == 404


def test_it_pages_and_counts_a_search_of_several_words(alice_client, tenant_a):
    contacts_named(tenant_a, *[f"Juma Mushi {i}" for i in range(5)], "Juma Kimaro", "Mussa")

    pages = [
        alice_client.get(URL, {"search": "mu ju", "page_size": 2, "page": page}).json()
        for page in (1, 2, 3)
    ]

    assert [[c["name"] for c in page["results"]] for page in pages] == [
        ["Juma Mushi 4", "Juma Mushi 3"],
        ["Juma Mushi 2", "Juma Mushi 1"],
        ["Juma Mushi 0"],
    ]
    assert [page["count"] for page in pages] == [5, 5, 5]
    past = alice_client.get(URL, {"search": "mu ju", "page_size": 2, "page": 4})
    assert past.status_code == 404
    none = alice_client.get(URL, {"search": "mu ju zz"}).json()
    assert (none["count"], none["results"]) == (0, [])


def test_it_counts_a_name_search_up_to_the_cap(alice_client, tenant_a, monkeypatch):
    from mifumo.contacts.views import CappedCountPaginator

    monkeypatch.setattr(CappedCountPaginator, "cap", 4)
    contacts_named(tenant_a, *["Juma Hamisi"] * 5, "Asha Juma", "Asha Bakari")

    capped = alice_client.get(URL, {"search": "juma", "page_size": 2}).json()
    exact = alice_client.get(URL, {"search": "asha"}).json()

    assert capped["count"] == 4 and capped["count_capped"] is True
    assert len(capped["results"]) == 2 and capped["next"]
    assert exact["count"] == 2 and "count_capped" not in exact


@postgres_only
def test_walking_the_newest_contacts_and_sorting_word_rows_give_the_same_pages(tenant_a):
    names = [("Juma", "Neema", "Jumanne Mushi", "Baraka")[i % 4] + f" {i}" for i in range(40)]
    contacts_named(tenant_a, *names)
    search = NameSearch(tenant_a, ["jum"])
    expected = [
        c.pk
        for c in Contact.objects.filter(tenant=tenant_a, name__startswith="Jum").order_by(
            "-created_at", "-id"
        )
    ]

    for offset in (0, 5, 15):
        walked = search.page_ids(offset, 5, matches=20, total=40)  # dense: walks
        sorted_rows = search.page_ids(offset, 5, matches=1, total=10**9)  # sparse: sorts
        assert walked == sorted_rows == expected[offset : offset + 5]


@postgres_only
def test_a_walk_that_finds_too_few_falls_back_to_the_word_rows(tenant_a, monkeypatch):
    monkeypatch.setattr(NameSearch, "WALK_ROWS", 4)
    contacts_named(tenant_a, "Juma 1", "Juma 2", *[f"Neema {i}" for i in range(6)])

    page = NameSearch(tenant_a, ["juma"]).page_ids(0, 50, matches=2, total=2)

    assert page == [c.pk for c in Contact.objects.filter(name__startswith="Juma").order_by("-name")]
