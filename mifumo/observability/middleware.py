"""Every request gets an id (the client's X-Request-ID when it is a plain token), returned in
the response's X-Request-ID, put on each log line, recorded in the audit log and carried into
the tasks the request queues. Requests are also counted for /metrics by route and status."""

from __future__ import annotations

import logging
import time

from django.core.signals import request_finished
from django.dispatch import receiver

from mifumo.observability import metrics
from mifumo.observability.context import current_request, new_request_id, request_id

logger = logging.getLogger("mifumo.request")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        rid = new_request_id(request.META.get("HTTP_X_REQUEST_ID"))
        request.request_id = rid
        # Kept until the response is finished (below), so that Django's own lines about the
        # request ("Bad Request: ...", logged after the middleware) carry the id too.
        request_id.set(rid)
        request_token = current_request.set(request)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            seconds = time.perf_counter() - started
            metrics.observe_http(request, response.status_code, seconds)
            # The path without its query string: queries may carry tokens (?token=...).
            logger.info(
                "%s %s %s %.0fms",
                request.method,
                request.path,
                response.status_code,
                seconds * 1000,
            )
        finally:
            current_request.reset(request_token)
        response["X-Request-ID"] = rid
        return response


@receiver(request_finished, dispatch_uid="mifumo-forget-request-id")
def _forget_request_id(**kwargs) -> None:
    request_id.set("")
