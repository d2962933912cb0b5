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
    prefixes = {"+" + digits}  # "255712..." typed without its plus
    if country_code:
        prefixes.add(f"+{country_code}{digits.lstrip('0')}")
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

    def filter_search(self, queryset, name, value):
        query = value.strip()[:100]
        if not query:
            return queryset
        if _PHONE_LIKE.match(query):
            region = self.request.tenant.default_region
            condition = Q()
            for prefix in phone_prefixes(query, region):
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
