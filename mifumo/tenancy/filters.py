"""Filters shared by the API's lists."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_filters.fields import IsoDateTimeField


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, turned to UTC before it reaches a query. PostgreSQL refuses the
    offsets past ±15:59 that Python reads (`0072-04-16T17:32+17:54`, found by schema fuzzing:
    a 500); in UTC they are fine. A time near year 1 that does not exist in UTC is a 400."""

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None or timezone.is_naive(parsed):
            return parsed
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField
