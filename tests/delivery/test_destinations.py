"""SMS pumping protection: some numbers never reach a vendor, whoever asks."""

import pytest

from mifumo.delivery.destinations import blocked_reason


def test_it_allows_a_mobile_in_the_tenants_country():
    assert blocked_reason("+255712345678", ["TZ"]) is None


def test_it_blocks_a_country_the_tenant_does_not_text():
    assert "allowed countries (KE)" in blocked_reason("+254712345678", ["TZ"])


def test_it_allows_every_listed_country():
    assert blocked_reason("+254712345678", ["TZ", "KE"]) is None


@pytest.mark.parametrize("number", ["+881612345678", "+870772001799", "+882345678901"])
def test_it_blocks_satellite_and_international_network_numbers(number):
    assert "satellite" in blocked_reason(number, [])


def test_it_blocks_premium_rate_numbers():
    assert blocked_reason("+19005551234", ["US"]) == "a premium-rate number"
