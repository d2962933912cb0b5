"""Rules for a contact's fields, shared by the API, bulk edits and (later) imports."""

from __future__ import annotations

import json
from typing import Any

MAX_TAG_LENGTH = 50
MAX_TAGS = 50
MAX_ATTRIBUTES = 50
MAX_ATTRIBUTE_KEY_LENGTH = 64
MAX_ATTRIBUTES_BYTES = 8 * 1024  # as JSON: room for a school's fields, not for a document

_SCALARS = (str, int, float, bool, type(None))


def clean_tags(raw: Any) -> list[str]:
    """Trimmed, non-empty, at most 50 characters each; duplicates (in any case) dropped, the
    first spelling kept. Raises ValueError with the reason."""
    if not isinstance(raw, list):
        raise ValueError("Tags must be a list of strings.")
    tags: list[str] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        if not isinstance(item, str):
            raise ValueError(f"Tag {index + 1} is not a string: {item!r}.")
        tag = " ".join(item.split())
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise ValueError(f"Tag {tag[:20]!r}… is longer than {MAX_TAG_LENGTH} characters.")
        if "\x00" in tag:
            raise ValueError("Tags cannot contain NUL characters.")
        if tag.casefold() not in seen:
            seen.add(tag.casefold())
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValueError(f"A contact has at most {MAX_TAGS} tags.")
    return tags


def clean_attributes(raw: Any, *, allow_null: bool = False) -> dict[str, Any]:
    """A flat object of scalar values. `allow_null` lets bulk edits remove a key with null."""
    if not isinstance(raw, dict):
        raise ValueError("Attributes must be an object of names to values.")
    if len(raw) > MAX_ATTRIBUTES:
        raise ValueError(f"A contact has at most {MAX_ATTRIBUTES} attributes.")
    cleaned: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.strip()
        if not name or len(name) > MAX_ATTRIBUTE_KEY_LENGTH:
            raise ValueError(
                f"Attribute names are 1 to {MAX_ATTRIBUTE_KEY_LENGTH} characters: {key[:70]!r}."
            )
        if not isinstance(value, _SCALARS) or (value is None and not allow_null):
            raise ValueError(
                f"Attribute {name!r} must be a string, number or true/false, not "
                f"{type(value).__name__ if value is not None else 'null'}."
            )
        if isinstance(value, float) and value != value:  # NaN cannot be stored as JSON
            raise ValueError(f"Attribute {name!r} is not a number.")
        if "\x00" in name or (isinstance(value, str) and "\x00" in value):
            # PostgreSQL's jsonb refuses NUL; refuse it here with a reason instead.
            raise ValueError(f"Attribute {name!r} contains a NUL character.")
        cleaned[name] = value
    if len(json.dumps(cleaned, ensure_ascii=False).encode()) > MAX_ATTRIBUTES_BYTES:
        raise ValueError(f"Attributes are limited to {MAX_ATTRIBUTES_BYTES} bytes as JSON.")
    return cleaned
