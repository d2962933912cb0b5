"""One error shape for the whole API: the spec's envelope.

    {"success": false, "message": "...", "error_code": "...", "details": {...}}

Services raise ApplicationError; DRF's own exceptions, Django's 404/403 and anything
unexpected are turned into the same shape here, so a client never has to parse two formats.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A domain error with a machine-readable code, raised by services and views."""

    def __init__(
        self,
        message: str,
        *,
        error_code: str = "invalid_request",
        status_code: int = status.HTTP_400_BAD_REQUEST,
        details: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code
        self.status_code = status_code
        self.details = details or {}
        # Some endpoints' spec shows a richer body (bulk edit's 404 lists counts): `body`
        # is merged into the envelope for those.
        self.body = body or {}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def envelope(message: str, error_code: str, details: Any = None, **extra: Any) -> dict[str, Any]:
    return {
        "success": False,
        "message": message,
        "error_code": error_code,
        "details": details if details is not None else {},
        **extra,
    }


def error_response(message: str, error_code: str, status_code: int, details: Any = None):
    """The envelope as a plain Django response, for code outside DRF views."""
    return JsonResponse(envelope(message, error_code, details), status=status_code)


def _first_message(detail: Any, path: str = "") -> str:
    """The first human message in a DRF error tree, prefixed with the field it concerns."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            field = key if key != "non_field_errors" else ""
            return _first_message(value, f"{path}.{field}" if path and field else path or field)
        return "Invalid input."
    if isinstance(detail, list):
        for index, value in enumerate(detail):
            if value not in ({}, [], ""):
                inner_path = path if not isinstance(value, (dict, list)) else f"{path}[{index}]"
                return _first_message(value, inner_path)
        return "Invalid input."
    text = str(detail)
    return f"{path}: {text}" if path else text


def _plain(detail: Any) -> Any:
    """ErrorDetail trees -> plain JSON-able dicts, lists and strings."""
    if isinstance(detail, dict):
        return {key: _plain(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_plain(value) for value in detail]
    return str(detail)


def _code_of(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "validation_error"
    if isinstance(exc.detail, dict) and isinstance(exc.detail.get("code"), str):
        # simplejwt's exceptions carry {"detail": ..., "code": "user_inactive", ...}: the code
        # is that value. get_codes() would give the class default for every string in the dict.
        return str(exc.detail["code"])
    codes = exc.get_codes()
    if isinstance(codes, str):
        return codes
    return exc.default_code


def _api_exception_response(exc: exceptions.APIException) -> Response:
    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.wait)))

    detail = exc.detail
    if isinstance(exc, exceptions.ValidationError):
        details = (
            _plain(detail) if isinstance(detail, dict) else {"non_field_errors": _plain(detail)}
        )
        message = _first_message(detail)
    elif isinstance(detail, dict):
        # simplejwt puts {"detail": ..., "code": ..., "messages": [...]} here.
        message = str(detail.get("detail", "Request failed."))
        details = {k: _plain(v) for k, v in detail.items() if k not in {"detail", "code"}}
    else:
        message = str(detail)
        details = {}
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        details["retry_after_seconds"] = max(1, math.ceil(exc.wait))
    return Response(
        envelope(message, _code_of(exc), details), status=exc.status_code, headers=headers
    )


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: every error leaves a view as the envelope, 500s included."""
    from mifumo.tenancy import audit  # audit imports the models; this module is imported first

    # An audited endpoint's refusal is an audit record too (once: a service's own failure
    # record marks the error).
    audit.record_view_failure(exc, context)
    if isinstance(exc, ApplicationError):
        body = envelope(exc.message, exc.error_code, exc.details, **exc.body)
        return Response(body, status=exc.status_code)
    if isinstance(exc, (Http404, ObjectDoesNotExist)):
        return Response(envelope("Not found.", "not_found"), status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    if isinstance(exc, exceptions.APIException):
        return _api_exception_response(exc)

    view = context.get("view")
    logger.exception("Unhandled error in %s", type(view).__name__ if view else "a view")
    return Response(
        envelope("Something went wrong on our side. It has been logged.", "server_error"),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


# Django-level handlers (urls.py): requests that never reach a DRF view still get the envelope.
def handler400(request, exception=None):
    return error_response("Bad request.", "bad_request", 400)


def handler403(request, exception=None):
    return error_response("You do not have permission to do this.", "permission_denied", 403)


def handler404(request, exception=None):
    return error_response(f"No such endpoint: {request.path}", "not_found", 404)


def handler500(request):
    return error_response(
        "Something went wrong on our side. It has been logged.", "server_error", 500
    )
