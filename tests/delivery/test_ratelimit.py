"""The provider rate limiter: evenly spaced slots in Redis, shared by every worker."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import pytest

from mifumo.delivery.ratelimit import SAFETY_MARGIN, Limit, RateLimiter


def _limiter(rate: str) -> RateLimiter:
    return RateLimiter(f"test:{uuid.uuid4().hex}", Limit.parse(rate))


def test_it_spaces_slots_evenly_instead_of_allowing_a_burst():
    limiter = _limiter("100/m")  # one every 0.6 s
    waits = [limiter.reserve(1, max_wait=60).wait_seconds for _ in range(5)]
    interval = 0.6 * SAFETY_MARGIN
    for index, wait in enumerate(waits):
        assert wait == pytest.approx(index * interval, abs=0.05)


def test_concurrent_reservations_each_get_their_own_slot():
    limiter = _limiter("10/s")
    with ThreadPoolExecutor(max_workers=10) as pool:
        waits = sorted(pool.map(lambda _: limiter.reserve(1, max_wait=10).wait_seconds, range(10)))
    gaps = [later - earlier for earlier, later in pairwise(waits)]
    assert all(gap == pytest.approx(0.1 * SAFETY_MARGIN, abs=0.03) for gap in gaps), gaps


def test_it_books_nothing_when_the_wait_is_longer_than_the_caller_accepts():
    limiter = _limiter("1/m")
    assert limiter.reserve(1, max_wait=0).granted
    refused = limiter.reserve(1, max_wait=1)
    assert not refused.granted
    assert refused.wait_seconds == pytest.approx(60 * SAFETY_MARGIN, abs=0.5)
    # The refusal booked nothing: the next slot is still one interval away, not two.
    assert limiter.reserve(1, max_wait=120).wait_seconds == pytest.approx(
        60 * SAFETY_MARGIN, abs=0.5
    )


def test_a_request_of_several_messages_takes_that_many_slots():
    limiter = _limiter("60/m")
    assert limiter.reserve(5, max_wait=0).granted
    assert limiter.reserve(1, max_wait=60).wait_seconds == pytest.approx(
        5 * SAFETY_MARGIN, abs=0.05
    )


def test_accounts_do_not_share_slots():
    first, second = _limiter("1/m"), _limiter("1/m")
    assert first.reserve(1, max_wait=0).granted
    assert second.reserve(1, max_wait=0).granted


@pytest.mark.parametrize(("text", "per_minute"), [("100/m", 100), ("5/s", 300), ("600/h", 10)])
def test_it_reads_limits_as_vendors_state_them(text, per_minute):
    assert Limit.parse(text).per_minute == per_minute


def test_no_limit_configured_means_no_limiter():
    assert Limit.parse("") is None
