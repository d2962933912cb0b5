"""What the current request (or the task it queued) is: its id, and the request itself."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from typing import Any

# One id per web request, carried in task headers into every task the request queued (and the
# tasks those queue), so one bulk send can be followed from the web log to each worker's lines.
request_id: ContextVar[str] = ContextVar("mifumo_request_id", default="")
# The Django HttpRequest being served, for the audit log's actor (None in tasks and scripts).
current_request: ContextVar[Any] = ContextVar("mifumo_current_request", default=None)

# A client's X-Request-ID is kept when it is a plain token (a proxy's id joins our logs to its
# own); anything else could forge log lines, so a new id is made instead.
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


def new_request_id(client_value: str | None = None) -> str:
    if client_value and _CLIENT_ID.match(client_value):
        return client_value
    return uuid.uuid4().hex
