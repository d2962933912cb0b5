"""JSON: a list of contact objects, or {"contacts": [...]}, as phones' contact pickers give.

The keys of the objects are the columns (`full_name`, `phone`, `email` in the spec's
phone_contacts; any alias the column mapping knows works too). Numbering: the first contact
is row 1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, BinaryIO

from mifumo.contacts.imports.read_csv import detect_encoding
from mifumo.contacts.imports.sniff import FileRejected
from mifumo.contacts.imports.table import Row, Table

MAX_KEYS = 200


def open_json(stream: BinaryIO) -> Table:
    encoding = detect_encoding(stream)
    stream.seek(0)
    try:
        document = json.loads(stream.read().decode(encoding))
    except (ValueError, RecursionError) as error:
        raise FileRejected(f"The file is not valid JSON ({error}).") from None
    if isinstance(document, dict) and isinstance(document.get("contacts"), list):
        document = document["contacts"]
    if not isinstance(document, list):
        raise FileRejected('A JSON file holds a list of contacts, or {"contacts": [...]}.')
    return table_from_objects(document, details={"encoding": encoding.removesuffix("-sig")})


def table_from_objects(items: list[Any], details: dict[str, Any] | None = None) -> Table:
    """A table of `items`: objects (their keys are the columns), or plain phone numbers."""
    if items and not any(isinstance(item, dict) for item in items):
        # ["0712 345 678", "+255 754 321 098"]: a list of numbers.
        items = [{"phone": item} for item in items]
    keys: dict[str, None] = {}
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise FileRejected(f"Contact {number} is not an object: {str(item)[:40]!r}.")
        keys.update(dict.fromkeys(str(key) for key in item))
        if len(keys) > MAX_KEYS:
            raise FileRejected(f"The contacts have more than {MAX_KEYS} different fields.")
    header = list(keys)
    return Table(rows=_rows(items, header), details=details or {}, made_up_header=True)


def _rows(items: list[dict[str, Any]], header: list[str]) -> Iterator[Row]:
    yield 0, header
    for number, item in enumerate(items, start=1):
        yield number, [_scalar(item.get(key, "")) for key in header]


def _scalar(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value
