"""What an uploaded file is, judged by its content, and whether it is safe to open.

A file's name says nothing: an XLSX renamed `contacts.csv` is read as XLSX, and a CSV named
`contacts.xlsx` as CSV. Archives (XLSX and ODS are ZIP files of XML) are inspected before any
parser sees them: the declared sizes, the compression ratio, then every member is unpacked as
a stream with a byte budget, so a ZIP bomb costs at most that budget in time and a few
kilobytes of memory. XML members are refused when they declare a DTD (an entity bomb needs
one); defusedxml reads each member's prolog, which is where a DTD has to be.
"""

from __future__ import annotations

import io
import zipfile
from typing import BinaryIO

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from django.conf import settings

from mifumo.tenancy.errors import ApplicationError

CSV, XLSX, XLS, ODS, VCARD, JSON = "csv", "xlsx", "xls", "ods", "vcf", "json"
SPREADSHEETS = {XLSX, XLS, ODS}

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97-2003 (and Word 97-2003) files
_ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
_NOT_CONTACTS = {
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"Rar!": "a RAR archive",
    b"\x1f\x8b": "a gzip archive",
    b"7z\xbc\xaf": "a 7-Zip archive",
}
# Larger than any honest member of an XLSX or ODS: worksheet XML compresses 5-20 times, and
# a sheet of repeated empty styled cells perhaps 100 times. A ZIP bomb is 1,000 and more.
MAX_RATIO = 200
MAX_MEMBERS = 10_000
_READ_BLOCK = 64 * 1024


class FileRejected(ApplicationError):
    """A file-level problem: nothing in the file is imported, and the message says why."""

    def __init__(self, message: str, *, error_code: str = "invalid_file") -> None:
        super().__init__(message, error_code=error_code, details={"file": [message]})


class UnsafeFile(FileRejected):
    def __init__(self, message: str) -> None:
        super().__init__(message, error_code="unsafe_file")


def detect_format(head: bytes) -> str:
    """The file's format from its first bytes (a few kilobytes are enough)."""
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"  # XLSX or ODS: told apart by inspect_archive()
    if head.startswith(_OLE2):
        return XLS
    for magic, what in _NOT_CONTACTS.items():
        if head.startswith(magic):
            raise FileRejected(
                f"This file is {what}, not a contacts file. Upload CSV, Excel (XLSX or XLS), "
                "OpenDocument (ODS), vCard (VCF) or JSON."
            )
    text = _text_head(head)
    if "\x00" in text:
        raise FileRejected("The file contains NUL bytes: it is not a text (CSV) file.")
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped[:11].upper() == "BEGIN:VCARD":
        return VCARD
    if stripped[:1] in ("[", "{"):
        return JSON
    return CSV


def _text_head(head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head[:4096].decode("utf-16", errors="ignore")
    if len(head) > 3 and head[1:2] == head[3:4] == b"\x00":
        # UTF-16 without a byte order mark: every other byte of ASCII text is NUL.
        return head[: len(head) // 2 * 2][:4096].decode("utf-16-le", errors="ignore")
    if len(head) > 3 and head[0:1] == head[2:3] == b"\x00":
        return head[: len(head) // 2 * 2][:4096].decode("utf-16-be", errors="ignore")
    return head[:4096].decode("utf-8", errors="ignore")


def inspect_archive(stream: BinaryIO) -> str:
    """Check a ZIP-based upload and say whether it is XLSX or ODS; raise UnsafeFile for bombs.

    The budget is settings.CONTACTS_IMPORT_MAX_UNPACKED_BYTES over all members together.
    Python's zipfile stops each member at its declared size and checks its CRC, so a member
    that lies about its size is caught too (as damaged).
    """
    budget = settings.CONTACTS_IMPORT_MAX_UNPACKED_BYTES
    stream.seek(0)
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise FileRejected("The file looks like a ZIP archive but is damaged.") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise UnsafeFile(f"The archive has {len(members)} files; a workbook has far fewer.")
        declared = sum(member.file_size for member in members)
        if declared > budget:
            raise UnsafeFile(
                f"The file unpacks to {declared:,} bytes, more than the {budget:,} allowed."
            )
        for member in members:
            ratio = member.file_size // max(member.compress_size, 1)
            if member.file_size > 1024 * 1024 and ratio > MAX_RATIO:
                raise UnsafeFile(
                    f"{member.filename} is compressed {ratio:,} times; that is a ZIP bomb, "
                    "not a workbook."
                )
        kind = _archive_kind(archive)
        for member in members:
            if _unpack_within_budget(archive, member).lstrip().startswith(b"<"):
                _refuse_dtd(archive, member)
    stream.seek(0)
    return kind


def _archive_kind(archive: zipfile.ZipFile) -> str:
    names = set(archive.namelist())
    if "mimetype" in names:
        with archive.open("mimetype") as handle:
            mimetype = handle.read(200).strip()
        if mimetype == _ODS_MIMETYPE:
            return ODS
        if mimetype.startswith(b"application/vnd.oasis.opendocument."):
            raise FileRejected(
                "This is an OpenDocument file but not a spreadsheet; save it as ODS or CSV."
            )
    if "[Content_Types].xml" in names and any(name.startswith("xl/") for name in names):
        return XLSX
    if any(name.startswith("word/") for name in names):
        raise FileRejected("This is a Word document, not a spreadsheet or contacts file.")
    raise FileRejected("This ZIP archive is not a spreadsheet (XLSX or ODS).")


def _unpack_within_budget(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bytes:
    """Unpack one member as a stream, keeping nothing but its first bytes (returned)."""
    limit = member.file_size
    seen = 0
    first = b""
    try:
        with archive.open(member) as handle:
            while block := handle.read(_READ_BLOCK):
                first = first or block[:256]
                seen += len(block)
                if seen > limit:
                    raise UnsafeFile(f"{member.filename} is larger than its archive says.")
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError):
        raise FileRejected(f"The file is damaged ({member.filename} cannot be read).") from None
    return first


def _refuse_dtd(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> None:
    try:
        with archive.open(member) as handle:
            # The first start tag ends the prolog: a DTD cannot come after it.
            for _event, _element in SafeET.iterparse(handle, events=("start",), forbid_dtd=True):
                break
    except DefusedXmlException:
        raise UnsafeFile(
            f"{member.filename} declares a DTD or entities, which workbooks never need; "
            "it is refused as a possible XML entity bomb."
        ) from None
    except SafeET.ParseError:
        raise FileRejected(f"The file is damaged ({member.filename} is not valid XML).") from None


def open_upload(data: bytes | BinaryIO) -> tuple[str, BinaryIO]:
    """(format, seekable binary stream) for an upload; archives are inspected on the way."""
    stream = io.BytesIO(data) if isinstance(data, bytes | bytearray | memoryview) else data
    stream.seek(0)
    head = stream.read(8192)
    stream.seek(0)
    if not head:
        raise FileRejected("The file is empty.")
    kind = detect_format(head)
    if kind == "zip":
        kind = inspect_archive(stream)
    return kind, stream
