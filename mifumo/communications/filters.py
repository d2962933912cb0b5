"""?recipient_group=, ?status=, ?delivery_method= on the bulk message list (?search= is DRF's
SearchFilter over subject and body)."""

from __future__ import annotations

import django_filters

from mifumo.communications.models import BulkMessage, BulkMessageStatus, DeliveryMethod


class BulkMessageFilter(django_filters.FilterSet):
    recipient_group = django_filters.CharFilter(lookup_expr="iexact")
    status = django_filters.ChoiceFilter(choices=BulkMessageStatus.choices)
    delivery_method = django_filters.ChoiceFilter(choices=DeliveryMethod.choices)

    class Meta:
        model = BulkMessage
        fields = []
