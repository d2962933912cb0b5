"""The request id travels in each task's message headers: set when a task is published from
a request (or from a task that a request queued), restored around the task in the worker."""

from __future__ import annotations

from celery import signals

from mifumo.observability.context import request_id

HEADER = "mifumo_request_id"


@signals.before_task_publish.connect(weak=False)
def _add_request_id(headers=None, **kwargs) -> None:
    rid = request_id.get()
    if rid and headers is not None and not headers.get(HEADER):
        headers[HEADER] = rid


@signals.task_prerun.connect(weak=False)
def _restore_request_id(task=None, **kwargs) -> None:
    rid = getattr(task.request, HEADER, None) if task is not None else None
    if rid:
        # Kept on the task's request so postrun can put the previous id back (eager tasks run
        # inside the request that queued them).
        task.request._mifumo_rid_token = request_id.set(str(rid))


@signals.task_postrun.connect(weak=False)
def _forget_request_id(task=None, **kwargs) -> None:
    token = getattr(task.request, "_mifumo_rid_token", None) if task is not None else None
    if token is not None:
        try:
            request_id.reset(token)
        except ValueError:  # set in another context: forget it rather than fail the task
            request_id.set("")
        task.request._mifumo_rid_token = None
