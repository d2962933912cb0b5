"""Destinations an SMS must never reach, whoever asks: SMS pumping protection.

Fraudsters sign up and "message" premium-rate or satellite numbers they earn from, or whole
countries the organisation never texts. A number outside the tenant's allowed countries, or of
a premium-rate, shared-cost or satellite range, fails before any vendor sees it.
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import PhoneNumberType

# Global services with no country: Inmarsat (870), satellite networks (881), international
# networks (882, 883) — billed at premium rates and the classic target of SMS pumping.
SATELLITE_COUNTRY_CODES = {870, 881, 882, 883}
BLOCKED_TYPES = {
    PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    PhoneNumberType.SHARED_COST: "a shared-cost number",
    PhoneNumberType.UAN: "a universal access number",
}


def blocked_reason(e164: str, allowed_regions: list[str]) -> str | None:
    """Why `e164` may not be messaged, or None when it may."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return "not a phone number"
    if number.country_code in SATELLITE_COUNTRY_CODES:
        return "a satellite or international-network number"
    kind = phonenumbers.number_type(number)
    if kind in BLOCKED_TYPES:
        return BLOCKED_TYPES[kind]
    region = phonenumbers.region_code_for_number(number)
    if allowed_regions and region not in allowed_regions:
        return f"outside the organisation's allowed countries ({region or 'unknown'})"
    return None
