"""?search=, ?tag=, ?group=, ?is_active=, ?opted_out= and ?ordering= on the contact list."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from functools import cached_property

import django_filters
import phonenumbers
from django.conf import settings
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Count, F, Q, QuerySet, TextField, Value, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import Concat, Lower, Replace, StrIndex

from mifumo.contacts.models import Contact, ContactCount, ContactWord, Tag
from mifumo.tenancy.filters import IsoDateTimeFilter
from mifumo.tenancy.models import Tenant

_PHONE_LIKE = re.compile(r"^\+?[\d\s\-().]{3,}$")
_EMAIL_LIKE = re.compile(r"[@.]")

# What separates the words of a name: white space and - . , ' " ( ) / & _ ; :
# ("Mwana-Asha", "J. Mushi", "Mushi, Juma"). Migration 0005 splits names with the same set on
# PostgreSQL (tests/contacts/test_search.py checks both databases agree).
WORD_SEPARATORS = " \t\r\n\u00a0.,'\"()/&_;:-"
_SEPARATOR_RUN = re.compile(f"[{re.escape(WORD_SEPARATORS)}]+")
MAX_SEARCH_WORDS = 5


def id_list(ids: Iterable) -> RawSQL | list:
    """Ids for an `__in` lookup (`pk__in=id_list(ids)`). On PostgreSQL one array parameter
    instead of one per id: Django prepares and psycopg quotes an IN list id by id, and psycopg
    parses a statement of more than 50 parameters again every time (its cache stops there):
    17% of a bulk edit's Python instructions (perf stat), in its five such statements."""
    if connection.vendor != "postgresql":
        return list(ids)
    return RawSQL("SELECT unnest(%s::uuid[])", [uuid_array(ids)])


def uuid_array(ids: Iterable) -> str:
    """PostgreSQL's text of a uuid[] for `%s::uuid[]`: psycopg quotes one string where it
    dumps a list element by element, 1 ms for 100 ids against 0.25 ms, and a bulk edit
    passes its ids five times. Each id goes through UUID(), so the text holds nothing else."""
    return "{" + ",".join([str(v if isinstance(v, uuid.UUID) else uuid.UUID(v)) for v in ids]) + "}"


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def name_words(text: str) -> list[str]:
    """The words of a name, lower case, as migration 0005's contacts_name_words() splits it."""
    return [word for word in _SEPARATOR_RUN.split(text.lower()) if word]


def search_words(query: str) -> list[str]:
    """The words of a name search, at most MAX_SEARCH_WORDS of them, in the case typed: the
    database lowers them as it lowers names (SQLite's lower() folds ASCII letters only)."""
    return [word for word in _SEPARATOR_RUN.split(query) if word][:MAX_SEARCH_WORDS]


class NameSearch:
    """Contacts with a word of their name beginning with each of `words` ("ju mu" finds Juma
    Mushi and Mussa Jumanne, not Mwajuma), as phone contact apps search.

    On PostgreSQL from ContactWord alone: the rows of the longest word (the fewest, as a rule)
    whose contact's `words` hold the others. A contact with two words beginning alike ("Juma
    Jumanne" for "juma") has two such rows; only the one of its first matching word is kept, so
    the rows are the contacts and a count needs no DISTINCT over tens of thousands of ids.
    """

    # The newest contacts a dense search's page walks at most (10-20 ms under load), and is
    # tried only where the matches' density says the page should be in half of them: for a
    # million contacts, from 10,000 matches (the count's cap) for page 1.
    WALK_ROWS = 10_000

    def __init__(self, tenant: Tenant, words: list[str]) -> None:
        self.tenant = tenant
        self.words = words

    def rows(self) -> QuerySet[ContactWord]:
        """One ContactWord row per matching contact (PostgreSQL)."""
        lead = max(self.words, key=len)
        # lower() of a constant is folded before planning: the LIKE is still a range of the key.
        rows = ContactWord.objects.filter(tenant=self.tenant, word__startswith=Lower(Value(lead)))
        for other in self.words:
            if other != lead:
                rows = rows.filter(words__contains=Lower(Value(f" {other}")))
        # The row whose word is the first in the name to begin with `lead`.
        first_match = StrIndex(F("words"), Lower(Value(f" {lead}")))
        whole_word = Concat(Value(" "), F("word"), Value(" "), output_field=TextField())
        return rows.alias(at=StrIndex(F("words"), whole_word)).filter(at=first_match)

    def condition(self) -> Q:
        """The same contacts as a condition on Contact, on both databases."""
        if connection.vendor == "postgresql":
            return Q(pk__in=self.rows().values("contact_id"))
        # SQLite has no table of words: each name is split again (the embedded mode's tenants
        # are small). Its lower() folds ASCII letters only: "élève" does not find "Élève".
        words = Lower("name")
        for separator in WORD_SEPARATORS:
            words = Replace(words, Value(separator), Value(" "))
        matches = Contact.objects.filter(tenant=self.tenant).alias(
            name_words=Concat(Value(" "), words)
        )
        for word in self.words:
            matches = matches.filter(name_words__contains=Lower(Value(f" {word}")))
        return Q(pk__in=matches.values("pk"))

    def count(self, cap: int) -> int:
        """Matching contacts, counted up to cap + 1 (PostgreSQL)."""
        return self.rows()[: cap + 1].count()

    def page_ids(self, offset: int, limit: int, *, matches: int, total: int) -> list:
        """The ids of a page of the matching contacts in the list's default order (newest
        first), on PostgreSQL, given how many match (at least) and the tenant's total.

        Sparse matches are sorted from their word rows: 1,500 "juma mushi"s, read as 35,000
        "mushi" rows, in 27 ms under load. Dense ones would sort tens of thousands (72,000
        "juma"s: 110 ms) where walking the newest contacts finds 50 among the first 1,100
        (3 ms): they are walked, at most WALK_ROWS contacts, then sorted if too few."""
        if (offset + limit) * total / max(matches, 1) <= self.WALK_ROWS / 2:
            found = self._walk_newest(offset, limit)
            if len(found) == limit or offset + len(found) >= matches:
                return found
        ordered = self.rows().order_by("-created_at", "-contact_id")
        return list(ordered.values_list("contact_id", flat=True)[offset : offset + limit])

    def page_and_count(self, offset: int, limit: int) -> tuple[list, int]:
        """A page of the matching contacts' ids in the list's order and how many match, in one
        query (PostgreSQL). The count is exact: every matching row is read for the sort."""
        ordered = (
            self.rows()
            .annotate(matches=Window(Count("*")))
            .order_by("-created_at", "-contact_id")
            .values_list("contact_id", "matches")
        )
        page = list(ordered[offset : offset + limit])
        return [contact_id for contact_id, _ in page], page[0][1] if page else 0

    def _walk_newest(self, offset: int, limit: int) -> list:
        """The page among the tenant's WALK_ROWS newest contacts. A LIMIT inside, so that the
        planner walks the list's index: asked for the matches alone, it guessed their number
        from nothing and sometimes read the whole table (3 s)."""
        # lower(name) LIKE '%juma%' first: it holds wherever a word begins with "juma", and
        # costs a tenth of splitting the name into words (1 ms against 14 for 1,100 names).
        condition = "lower(name) LIKE lower(%s) AND contacts_name_words(name) LIKE lower(%s)"
        conditions = " AND ".join([condition] * len(self.words))
        patterns = []
        for word in self.words:
            patterns += [f"%{escape_like(word)}%", f"% {escape_like(word)}%"]
        sql = f"""
            SELECT id FROM (
                SELECT id, name, created_at FROM contacts_contact WHERE tenant_id = %s
                ORDER BY created_at DESC, id DESC LIMIT %s
            ) AS newest
            WHERE {conditions}
            ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s
        """  # noqa: S608 - only placeholders are put in
        with connection.cursor() as cursor:
            cursor.execute(sql, [self.tenant.pk, self.WALK_ROWS, *patterns, limit, offset])
            return [row[0] for row in cursor.fetchall()]


def phone_prefixes(query: str, region: str) -> list[str]:
    """E.164 prefixes a typed phone fragment may stand for: "+25571" as it is, "0712" and
    "712" as the tenant's country code followed by the national digits."""
    digits = re.sub(r"\D", "", query)
    if query.strip().startswith("+"):
        return ["+" + digits]
    country_code = str(phonenumbers.country_code_for_region(region) or "")
    prefixes = set()
    if country_code:
        prefixes.add(f"+{country_code}{digits.lstrip('0')}")
    if not (country_code and digits.startswith("0")):
        # "255712..." typed without its plus. No country code begins with 0, so "0712" is only
        # ever national: its one prefix is counted by an index-only scan of contact_unique_phone
        # (bench/contacts_list.py), where two need a bitmap heap scan of every matching row.
        prefixes.add("+" + digits)
    return sorted(prefixes)


class ContactFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(
        method="filter_search", help_text="Name, e-mail or phone (any shape, or its beginning)."
    )
    tag = django_filters.CharFilter(method="filter_tag", help_text="A tag name, any case.")
    group = django_filters.UUIDFilter(field_name="groups", help_text="A group id.")
    is_active = django_filters.BooleanFilter()
    opted_out = django_filters.BooleanFilter(
        field_name="opted_out_at", lookup_expr="isnull", exclude=True
    )
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    ordering = django_filters.OrderingFilter(
        fields=["name", "created_at", "updated_at", "phone_e164"],
        help_text="name, created_at, updated_at or phone_e164; prefix - for descending.",
    )

    class Meta:
        model = Contact
        fields = []

    @classmethod
    def in_use(cls, params) -> bool:
        """Whether any of these filters, ordering included, is given a value."""
        return any(params.get(name) for name in cls.base_filters)

    @classmethod
    def narrows(cls, params) -> bool:
        """Whether these query parameters may leave contacts out of the list (ordering only
        reorders it). Any non-empty value counts, even one the filter ignores ("  "): the list
        then counts its rows, exact either way."""
        return any(params.get(name) for name in cls.base_filters if name != "ordering")

    def filter_search(self, queryset, name, value):
        query = value.strip()[:100]
        if not query:
            return queryset
        if _PHONE_LIKE.match(query):
            prefixes = phone_prefixes(query, self.request.tenant.default_region)
            if len(prefixes) > 1:
                # "712" may be national (+255712) or international (+712), and seldom both.
                # One prefix is counted by an index-only scan of contact_unique_phone; an OR of
                # two by a bitmap heap scan of every match (bench/contacts_list.py), so the
                # prefixes that match nothing are dropped first, at one index probe each.
                prefixes = [
                    p for p in prefixes if queryset.filter(phone_e164__startswith=p).exists()
                ]
                if not prefixes:
                    return queryset.none()
            condition = Q()
            for prefix in prefixes:
                condition |= Q(phone_e164__startswith=prefix)
            return queryset.filter(condition)
        return queryset.filter(self.text_condition(self.request.tenant, query))

    @staticmethod
    def text_condition(tenant: Tenant, query: str) -> Q:
        """Names by the beginnings of their words; e-mails anywhere (their trigram index) when
        the query has an @ or a dot, as e-mail addresses do: "asha@", "shule.example"."""
        words = search_words(query)
        condition = NameSearch(tenant, words).condition() if words else Q(pk__in=[])
        if _EMAIL_LIKE.search(query):
            condition |= Q(email__icontains=query)
        return condition

    @classmethod
    def name_search_alone(cls, params, tenant: Tenant) -> NameSearch | None:
        """The search when these query parameters list contacts by a name search and nothing
        else, in the default order, on PostgreSQL: the list then pages and counts it from
        ContactWord alone (NameSearchPaginator below). None otherwise."""
        query = (params.get("search") or "").strip()[:100]
        others = any(params.get(name) for name in cls.base_filters if name != "search")
        if others or connection.vendor != "postgresql" or not query:
            return None
        if _PHONE_LIKE.match(query) or _EMAIL_LIKE.search(query):
            return None
        words = search_words(query)
        return NameSearch(tenant, words) if words else None

    def filter_tag(self, queryset, name, value):
        tag = (
            Tag.objects.annotate(lower_name=Lower("name"))
            .filter(tenant=self.request.tenant, lower_name=value.strip().lower())
            .first()
        )
        return queryset.filter(tags=tag) if tag else queryset.none()


# --- pages of the list ---------------------------------------------------------------------------


class ContactPaginator(Paginator):
    """Reads a page after the first as its ids, then those contacts by id from `rows` (the
    tenant's contacts with what the API shows of them, as `object_list` has them too;
    `object_list` itself by default), in the ids' order. The relations read along with the
    rows (serializers.with_relations) are then computed for the page's 50 contacts, not for
    every row an OFFSET skips (page 200 of the list: 270 ms), and the ids come from an index
    (contact_list_order) alone."""

    def __init__(self, object_list, per_page, *, rows: QuerySet | None = None, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.rows = object_list if rows is None else rows

    def page(self, number):
        number = self.validate_number(number)
        if number == 1:  # no OFFSET: the LIMIT stops at the page's rows
            return self._get_page(list(self.object_list[: self.per_page]), number, self)
        bottom = (number - 1) * self.per_page
        ids = list(self.object_list.values_list("pk", flat=True)[bottom : bottom + self.per_page])
        return self.page_of(ids, number)

    def page_of(self, ids: list, number: int):
        by_id = {contact.pk: contact for contact in self.rows.filter(pk__in=id_list(ids))}
        return self._get_page([by_id[pk] for pk in ids if pk in by_id], number, self)


class CountedPaginator(ContactPaginator):
    """A paginator told its total, so it does not COUNT(*) the rows."""

    def __init__(self, object_list, per_page, *, total: int, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.total = total

    @property
    def count(self) -> int:
        return self.total


class CappedCountPaginator(ContactPaginator):
    """Counts a search's matches up to settings.CONTACTS_SEARCH_COUNT_CAP: exact below it,
    "at least the cap" above it. An exact count of a common first name (72,000 "juma"s
    among a million contacts) reads every matching row, and nobody pages through 10,000
    search results: they narrow the search."""

    cap = settings.CONTACTS_SEARCH_COUNT_CAP

    @cached_property
    def matches(self) -> int:
        # Without the ordering: the database stops at cap + 1 rows instead of sorting all.
        return self.object_list.order_by().values("pk")[: self.cap + 1].count()

    @property
    def capped(self) -> bool:
        return self.matches > self.cap

    @property
    def count(self) -> int:
        return min(self.matches, self.cap)


class NameSearchPaginator(CappedCountPaginator):
    """Pages and counts a name search alone (NameSearch) from ContactWord: the newest 50 of
    72,000 "juma"s are a sort of index entries, and only their 50 contacts are read.
    `object_list` is the tenant's contacts, unfiltered: the rows a page is read from."""

    def __init__(self, object_list, per_page, *, search, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.search = search

    @cached_property
    def matches(self) -> int:
        return self.search.count(self.cap)

    def page(self, number):
        ids = None
        if len(self.search.words) > 1 and str(number).isdigit() and int(number) >= 1:
            # A search of several words matches few contacts, read from the rows of one word:
            # the page and their number in one pass over those rows instead of two.
            ids, matches = self.search.page_and_count(
                (int(number) - 1) * self.per_page, self.per_page
            )
            if ids:
                self.__dict__["matches"] = matches
        number = self.validate_number(number)
        if not ids:
            ids = self.search.page_ids(
                (number - 1) * self.per_page,
                self.per_page,
                matches=self.matches,
                total=ContactCount.total_for(self.search.tenant),
            )
        return self.page_of(ids, number)
