"""?search=, ?tag=, ?group=, ?is_active=, ?opted_out= and ?ordering= on the contact list."""

from __future__ import annotations

import re

import django_filters
import phonenumbers
from django.db.models import Q
from django.db.models.functions import Lower

from mifumo.contacts.models import Contact, Tag

_PHONE_LIKE = re.compile(r"^\+?[\d\s\-().]{3,}$")


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
        # ever national: its one prefix is counted by an index-only scan of contact_phone_prefix
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
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    ordering = django_filters.OrderingFilter(
        fields=["name", "created_at", "updated_at", "phone_e164"],
        help_text="name, created_at, updated_at or phone_e164; prefix - for descending.",
    )

    class Meta:
        model = Contact
        fields = []

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
                # One prefix is counted by an index-only scan of contact_phone_prefix; an OR of
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
        return queryset.filter(Q(name__icontains=query) | Q(email__icontains=query))

    def filter_tag(self, queryset, name, value):
        tag = (
            Tag.objects.annotate(lower_name=Lower("name"))
            .filter(tenant=self.request.tenant, lower_name=value.strip().lower())
            .first()
        )
        return queryset.filter(tags=tag) if tag else queryset.none()
