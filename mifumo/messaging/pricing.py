"""What an SMS costs: a price per segment by destination country.

Prices are rows of SmsPrice (set by the operator in the admin); a country without a row costs
settings.SMS_DEFAULT_PRICE. The destination country comes from the number's calling code, a
dictionary lookup rather than a full phonenumbers parse, since a bulk send prices 10,000
numbers inside one request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

from mifumo.messaging.models import SmsPrice

# Calling codes are prefix-free (ITU E.164): at most one of +2, +25, +255 is a code. A code
# shared by several countries (+1, +7, +44) is priced as its main country, listed first.
_REGION_BY_CALLING_CODE = {
    str(code): regions[0] for code, regions in COUNTRY_CODE_TO_REGION_CODE.items() if regions
}
_PRICE_CACHE_SECONDS = 30
_prices: dict[str, Decimal] = {}
_prices_loaded_at = float("-inf")


_REGION_COUNT_BY_CALLING_CODE = {
    str(code): len(regions) for code, regions in COUNTRY_CODE_TO_REGION_CODE.items()
}


def calling_code_regions(e164: str) -> int:
    """How many countries share the number's calling code (0 when it is unknown)."""
    for length in (1, 2, 3):
        count = _REGION_COUNT_BY_CALLING_CODE.get(e164[1 : 1 + length])
        if count:
            return count
    return 0


def region_of(e164: str) -> str:
    """The ISO region of an E.164 number ("+255712…" -> "TZ"); "" when the code is unknown."""
    for length in (1, 2, 3):
        region = _REGION_BY_CALLING_CODE.get(e164[1 : 1 + length])
        if region:
            return region
    return ""


def _price_table() -> dict[str, Decimal]:
    # Prices change rarely and a send reads them thousands of times: a short-lived copy per
    # process. An operator's change is seen within _PRICE_CACHE_SECONDS.
    global _prices, _prices_loaded_at
    if time.monotonic() - _prices_loaded_at > _PRICE_CACHE_SECONDS:
        _prices = dict(SmsPrice.objects.values_list("region", "price_per_segment"))
        _prices_loaded_at = time.monotonic()
    return _prices


def forget_prices() -> None:
    """Read the table again on the next lookup (after an operator edits it, and in tests)."""
    global _prices_loaded_at
    _prices_loaded_at = float("-inf")


def price_per_segment(region: str) -> Decimal:
    return _price_table().get(region, settings.SMS_DEFAULT_PRICE)


def message_cost(e164: str, segments: int) -> Decimal:
    return price_per_segment(region_of(e164)) * segments


def price_by_number() -> Callable[[str, int], Decimal]:
    """message_cost for many numbers: the table is read once and each calling-code prefix and
    segment count priced once (a bulk send prices 10,000 numbers, nearly all alike)."""
    table = _price_table()
    default = settings.SMS_DEFAULT_PRICE
    costs: dict[tuple[str, int], Decimal] = {}

    def cost(e164: str, segments: int) -> Decimal:
        key = (e164[:4], segments)  # "+" and the longest calling code decide the price
        known = costs.get(key)
        if known is None:
            known = costs[key] = table.get(region_of(e164), default) * segments
        return known

    return cost


@dataclass(frozen=True)
class Quote:
    messages: int
    segments: int
    cost: Decimal


def quote(items: Iterable[tuple[str, int]]) -> Quote:
    """The cost of sending `segments` to each E.164 number in `items`."""
    table = _price_table()
    default = settings.SMS_DEFAULT_PRICE
    messages = segments_total = 0
    cost = Decimal("0")
    for e164, segments in items:
        messages += 1
        segments_total += segments
        cost += table.get(region_of(e164), default) * segments
    return Quote(messages=messages, segments=segments_total, cost=cost)
