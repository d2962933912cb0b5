"""mifumo.memory: the collector paused in a request (one collection after it) and in a task
(the young objects collected when the block ends); tracebacks forgotten."""

from __future__ import annotations

import gc
import sys
import weakref

import pytest
from django.core.signals import request_finished

from mifumo.memory import collector_paused, collector_paused_in_task, forget_tracebacks


def test_the_collector_is_off_in_the_block_and_back_on_after_it():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # nested: the inner block must not turn it back on
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_paused_request_is_collected_once_when_it_has_finished(monkeypatch, db):
    # `db`: Django's own request_finished receiver closes old database connections.
    request_finished.send(sender=None)  # whatever an earlier test in this thread left
    collections = []
    monkeypatch.setattr(gc, "collect", lambda *args: collections.append(args))
    request_finished.send(sender=None)
    assert collections == []  # an ordinary request: no extra collection

    with collector_paused():
        pass
    assert collections == []  # not during the request: after its response has gone
    request_finished.send(sender=None)
    request_finished.send(sender=None)
    assert collections == [()]


def test_a_paused_task_block_collects_its_young_objects_once_when_it_ends(monkeypatch):
    collections = []
    monkeypatch.setattr(gc, "collect", lambda *args: collections.append(args))
    with collector_paused_in_task():
        assert not gc.isenabled()
        with collector_paused_in_task():  # nested: neither turns it on nor collects early
            pass
        assert not gc.isenabled()
        assert collections == []
    assert gc.isenabled()
    assert collections == [(0,)]


class _Chunk:
    """Stands for a chunk of rows: something a caller holds while a row fails."""


def _fails_as_phonenumbers_does() -> None:
    try:
        raise ValueError("first")
    except ValueError:
        _, _error, _ = sys.exc_info()  # the handled exception and its traceback in locals
        raise KeyError("second") from None


def _caller(forget: bool) -> weakref.ref:
    chunk = _Chunk()
    try:
        _fails_as_phonenumbers_does()
    except KeyError as error:
        if forget:
            forget_tracebacks(error)
    return weakref.ref(chunk)


@pytest.mark.parametrize("forget", [True, False])
def test_forgotten_tracebacks_leave_the_callers_objects_to_reference_counting(forget):
    gc.collect()
    gc.disable()
    try:
        chunk = _caller(forget)
        # Without forget_tracebacks(): the failing frame's locals hold its exception and
        # traceback, a cycle, and through the frame's caller the chunk waits for the collector.
        assert (chunk() is None) is forget
    finally:
        gc.enable()
        gc.collect()
