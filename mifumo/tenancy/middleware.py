from django.conf import settings

from mifumo.tenancy.errors import error_response


class BodySizeLimitMiddleware:
    """Refuse an oversized body from its Content-Length, before anything reads it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response("Content-Length is not a number.", "bad_request", 400)
        content_type = request.META.get("CONTENT_TYPE", "")
        if content_type.startswith("multipart/"):
            # The file itself is limited to MAX_UPLOAD_BYTES; the rest is room for the form.
            limit = settings.MAX_UPLOAD_BYTES + 64 * 1024
        else:
            limit = settings.MAX_JSON_BODY_BYTES
        if length > limit:
            return error_response(
                f"The request body is {length} bytes; the limit is {limit} bytes.",
                "payload_too_large",
                413,
                {"limit_bytes": limit, "received_bytes": length},
            )
        return self.get_response(request)
