"""Helpers for requests that build and drop a great many objects at once."""

from __future__ import annotations

import gc
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from django.core.signals import request_finished
from django.dispatch import receiver

_request = threading.local()  # gunicorn serves several requests per process, one per thread


def collector_paused() -> AbstractContextManager[None]:
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
    return _collector_off(then=_collect_after_the_request)


def _collect_after_the_request() -> None:
    _request.collect = True


def collector_paused_in_task() -> AbstractContextManager[None]:
    """collector_paused() for a task's block, outside any request: the young objects are
    collected when the block ends.

    A 50,000-row import keeps a few chunks of rows alive at a time (some 20,000 objects
    each), so the collector, triggered by their allocations, ran seven full collections
    walking every object of the process: 0.75 s of a 3.5 s import, with the interpreter
    lock held, which its other thread (reading the next chunk) waits for. The rows die by
    reference counting (see forget_tracebacks); what sits in cycles was made during the
    block, so it is still in the youngest generation when the block ends, and collecting
    that generation alone finds it (after a 50,000-row import a full collection found
    nothing more)."""
    return _collector_off(then=lambda: gc.collect(0))


@contextmanager
def _collector_off(*, then: Callable[[], object]) -> Iterator[None]:
    """The collector off for the block; `then` runs when the outermost such block ends (a
    nested one neither turns the collector back on nor runs its own)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
            then()


def forget_tracebacks(error: BaseException) -> None:
    """Drop the tracebacks of a caught exception and of those it was raised from or during.

    For exceptions caught by the thousand (an import's invalid rows) that sit in a reference
    cycle: Django's ValidationError refers to itself (error_list = [self]); phonenumbers'
    parse() keeps the exception it handles, and its traceback, in locals (sys.exc_info()).
    Only the collector frees such a cycle, and through a traceback's frames, each of which
    refers to its caller, it would keep everything the callers hold, an import's whole chunk
    of rows, waiting for it. So the frames that have returned let go of their locals
    (traceback.clear_frames() leaves the running ones alone) and the exceptions of their
    tracebacks: what is left of a cycle holds no frame."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        traceback.clear_frames(error.__traceback__)
        error.__traceback__ = None
        error = error.__cause__ or error.__context__


@receiver(request_finished)
def _collect_after_request(**kwargs) -> None:
    if getattr(_request, "collect", False):
        _request.collect = False
        gc.collect()
