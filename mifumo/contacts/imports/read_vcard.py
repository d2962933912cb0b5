"""vCard 2.1, 3.0 and 4.0 as Android, iPhone and Google Contacts export them.

One card is one row. A card with several TEL lines keeps its mobile number (TYPE=CELL,
"mobile", or the iPhone's TYPE=IPHONE), else its first; the name is FN, else N put together.
vCard 2.1 (older Android) writes non-ASCII names as quoted-printable UTF-8 with soft line
breaks; 3.0 and 4.0 fold long lines with a leading space and escape commas and semicolons.
PHOTO and other properties we do not use are skipped. The first card is row 1.
"""

from __future__ import annotations

import io
import quopri
import re
from collections.abc import Iterator
from typing import BinaryIO

from mifumo.contacts.imports.read_csv import detect_encoding
from mifumo.contacts.imports.sniff import FileRejected
from mifumo.contacts.imports.table import Row, Table

HEADER = ["Name", "Phone", "Email", "Categories", "Organization", "Title", "Birthday", "Note"]
_MOBILE_TYPES = {"cell", "mobile", "iphone", "cellular"}
_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)
_MAX_LINE = 1024 * 1024  # a folded PHOTO can be long; anything longer is not a vCard


def open_vcard(stream: BinaryIO) -> Table:
    encoding = detect_encoding(stream)
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    return Table(
        rows=_rows(text),
        details={"encoding": encoding.removesuffix("-sig")},
        made_up_header=True,
        close=text.detach,
    )


def _rows(text: io.TextIOWrapper) -> Iterator[Row]:
    yield 0, HEADER
    card: list[tuple[str, dict[str, list[str]], str]] | None = None
    number = 0
    try:
        for name, params, value in _properties(text):
            if name == "BEGIN" and value.strip().upper() == "VCARD":
                card = []
            elif name == "END" and value.strip().upper() == "VCARD":
                if card is not None:
                    number += 1
                    yield number, _card_row(card)
                card = None
            elif card is not None:
                card.append((name, params, value))
    except UnicodeDecodeError:
        raise FileRejected("The vCard file is not text in any encoding we know.") from None
    if card:  # a last card without END:VCARD
        number += 1
        yield number, _card_row(card)


def _logical_lines(text: io.TextIOWrapper) -> Iterator[str]:
    """Unfold lines: a line starting with a space or tab continues the previous one; in
    quoted-printable values a line ending with "=" continues on the next (vCard 2.1)."""
    pending = ""
    for raw in text:
        line = raw.rstrip("\r\n")
        if pending and line[:1] in (" ", "\t"):
            pending += line[1:]
        elif pending.endswith("=") and _is_quoted_printable(pending):
            pending = pending[:-1] + line.lstrip()
        else:
            if pending:
                yield pending
            pending = line
        if len(pending) > _MAX_LINE:
            raise FileRejected("A vCard line is longer than 1 MB; the file is not a vCard.")
    if pending:
        yield pending


def _is_quoted_printable(line: str) -> bool:
    head = line.split(":", 1)[0].upper()
    return "QUOTED-PRINTABLE" in head


def _properties(text: io.TextIOWrapper) -> Iterator[tuple[str, dict[str, list[str]], str]]:
    for line in _logical_lines(text):
        head, sep, value = _split_property(line)
        if not sep:
            continue
        parts = head.split(";")
        name = parts[0].rsplit(".", 1)[-1].strip().upper()  # "item1.TEL" -> "TEL"
        params: dict[str, list[str]] = {}
        for part in parts[1:]:
            key, eq, raw_value = part.partition("=")
            if not eq:  # vCard 2.1 writes bare types: TEL;CELL;PREF:
                key, raw_value = "TYPE", key
            for item in raw_value.strip('"').split(","):
                params.setdefault(key.strip().upper(), []).append(item.strip().lower())
        yield name, params, _decode_value(value, params)


def _split_property(line: str) -> tuple[str, str, str]:
    in_quotes = False
    for index, char in enumerate(line):
        if char == '"':
            in_quotes = not in_quotes
        elif char == ":" and not in_quotes:
            return line[:index], ":", line[index + 1 :]
    return line, "", ""


def _decode_value(value: str, params: dict[str, list[str]]) -> str:
    encoding = params.get("ENCODING", [""])[0]
    if encoding in ("quoted-printable", "qp") or "quoted-printable" in params.get("TYPE", []):
        charset = params.get("CHARSET", ["utf-8"])[0] or "utf-8"
        raw = quopri.decodestring(value.encode("latin-1", errors="replace"))
        try:
            return raw.decode(charset)
        except (LookupError, UnicodeDecodeError):
            return raw.decode("latin-1")
    return value


def _unescape(value: str) -> str:
    return _UNESCAPE.sub(lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def _components(value: str) -> list[str]:
    """Split a structured value (N, ORG) on unescaped semicolons."""
    parts, current, escaped = [], [], False
    for char in value:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ";":
            parts.append(_unescape("".join(current)).strip())
            current = []
        else:
            current.append(char)
    parts.append(_unescape("".join(current)).strip())
    return parts


def _card_row(card: list[tuple[str, dict[str, list[str]], str]]) -> list[str]:
    full_name = structured_name = email = categories = org = title = birthday = note = ""
    phones: list[tuple[bool, str]] = []
    for name, params, value in card:
        if name == "FN" and not full_name:
            full_name = _unescape(value).strip()
        elif name == "N" and not structured_name:
            family, given, additional, prefix, suffix = [*_components(value), "", "", "", ""][:5]
            structured_name = " ".join(p for p in (prefix, given, additional, family, suffix) if p)
        elif name == "TEL":
            number = _unescape(value).strip()
            if number.lower().startswith("tel:"):  # vCard 4.0: TEL;VALUE=uri:tel:+255...
                number = number[4:].split(";", 1)[0]
            if number:
                types = set(params.get("TYPE", []))
                phones.append((bool(types & _MOBILE_TYPES), number))
        elif name == "EMAIL" and not email:
            email = _unescape(value).strip()
        elif name == "CATEGORIES" and not categories:
            categories = ", ".join(c.strip() for c in re.split(r"(?<!\\),", value) if c.strip())
            categories = _unescape(categories)
        elif name == "ORG" and not org:
            org = " ".join(part for part in _components(value) if part)
        elif name == "TITLE" and not title:
            title = _unescape(value).strip()
        elif name == "BDAY" and not birthday:
            birthday = value.strip()
        elif name == "NOTE" and not note:
            note = _unescape(value).strip()
    mobile = next((number for is_mobile, number in phones if is_mobile), "")
    phone = mobile or (phones[0][1] if phones else "")
    return [full_name or structured_name, phone, email, categories, org, title, birthday, note]
