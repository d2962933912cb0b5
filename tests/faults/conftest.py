"""Fault tests: a campaign sent through a real stack (tests/integration/stack.py) while
something breaks. Each test measures how long the stack took to recover and reports it with
`record_recovery`; the figures are printed at the end of the run, whoever ran it (pytest alone
or under xdist: they travel with the test's report, and tests/conftest.py prints them, since
an xdist controller loads only that conftest)."""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence

import pytest

RECOVERY = "fault_recovery"


def baseline_rate(received_at: Sequence[float], *, before: float) -> float:
    """Messages per second the vendor received from the first message until `before` (the
    first fault): what "sending normally" means for this run on this machine."""
    earlier = sorted(t for t in received_at if t < before)
    if len(earlier) < 2:
        return 0.0
    return len(earlier) / max(before - earlier[0], 1.0)


def recovered_after(
    received_at: Sequence[float], *, baseline: float, ended: float, window: float = 1.0
) -> float | None:
    """Seconds from the end of a fault until the vendor receives messages at half the baseline
    rate again (in a `window`-second window starting at a received message), or receives the
    campaign's last message. None when nothing was received after the fault."""
    after = sorted(t for t in received_at if t >= ended)
    if not after:
        return None
    wanted = max(1.0, baseline * window / 2)
    for index, moment in enumerate(after):
        count = bisect.bisect_left(after, moment + window) - index
        if count >= wanted or moment + window > after[-1]:
            return moment - ended
    return None  # not reached: the last message always ends the loop


@pytest.fixture
def record_recovery(record_property):
    """record_recovery(fault="...", recovered=seconds, settled=seconds, **more): printed with
    the test and in the run's summary."""

    def record(**figures) -> None:
        rounded = {k: round(v, 1) if isinstance(v, float) else v for k, v in figures.items()}
        print("recovery:", json.dumps(rounded))
        record_property(RECOVERY, rounded)

    return record
