"""A JSON parser that bounds what it reads and never lets odd input become a 500."""

import json

from django.conf import settings
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.parsers import JSONParser

from mifumo.tenancy.errors import PayloadTooLarge


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        if stream is None:
            return {}
        limit = settings.MAX_JSON_BODY_BYTES
        # A chunked request has no Content-Length for the middleware to check: read one byte
        # past the limit to know it is too large without reading all of it.
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise PayloadTooLarge(f"JSON bodies are limited to {limit} bytes.")
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        try:
            text = raw.decode(encoding)
            return json.loads(text, parse_constant=_reject_constant)
        except LookupError:
            # Django accepts any codec Python knows as the charset, "rot13" and "hex" too.
            raise UnsupportedMediaType(
                media_type, detail=f"The charset {encoding!r} is not a text encoding."
            ) from None
        except UnicodeDecodeError:
            raise ParseError(f"The body is not valid {encoding}.") from None
        except RecursionError:
            raise ParseError("The JSON body is nested too deeply.") from None
        except ValueError as error:
            raise ParseError(f"Malformed JSON: {error}") from None
