"""Uploaded files: the one size limit every upload endpoint applies."""

from __future__ import annotations

from django.conf import settings
from rest_framework import status

from mifumo.tenancy.errors import ApplicationError


def checked_upload(upload):
    """The upload's file (in memory, or spooled to disk when over 2 MB) once it is known to be
    within MAX_UPLOAD_BYTES; a larger one is the envelope's 413."""
    limit = settings.MAX_UPLOAD_BYTES
    if upload.size > limit:
        raise ApplicationError(
            f"The file is {upload.size:,} bytes; the limit is {limit:,} bytes "
            f"({limit / 1_048_576:g} MB).",
            error_code="payload_too_large",
            status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            details={"limit_bytes": limit, "received_bytes": upload.size},
        )
    return upload.file
