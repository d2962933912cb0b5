"""Helpers for requests that build and drop a great many objects at once."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.signals import request_finished
from django.dispatch import receiver

_request = threading.local()  # gunicorn serves several requests per process, one per thread


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run a block with Python's cyclic garbage collector off, and collect once the request
    has been answered.

    A 10,000-recipient send creates some 200,000 dicts, tuples and strings. Meanwhile the
    collector, triggered every 700 allocations, walks them again and again (and now and then
    every object in the process): ~100 ms of the request, for nothing, since nearly all of
    them die by reference counting. The few that sit in reference cycles (Django's and DRF's
    request objects, holding the parsed body) would wait, promoted to the oldest generation,
    for a full collection that comes rarely: so one full collection runs when the request
    has finished, after the response has gone to the client (Django's request_finished).
    Other threads of the process run without collections while the block lasts.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
            _request.collect = True


@receiver(request_finished)
def _collect_after_request(**kwargs) -> None:
    if getattr(_request, "collect", False):
        _request.collect = False
        gc.collect()
