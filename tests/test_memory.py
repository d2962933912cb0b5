"""mifumo.memory.collector_paused: no collections during the block, one after the request."""

from __future__ import annotations

import gc

from django.core.signals import request_finished

from mifumo.memory import collector_paused


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
