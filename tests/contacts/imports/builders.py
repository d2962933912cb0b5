"""Files shaped like the ones people export from their phones and spreadsheet programs."""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

import openpyxl
import xlsxwriter

FIXTURES = Path(__file__).parent / "fixtures"

# Google Contacts' "Google CSV" export (contacts.google.com, 2024): one column per label
# slot, phone and e-mail labels beside their values, several numbers of one label joined
# with " ::: ", labels ("groups") in one cell with Google's own "* myContacts".
GOOGLE_HEADER = (
    "First Name,Middle Name,Last Name,Phonetic First Name,Phonetic Middle Name,"
    "Phonetic Last Name,Name Prefix,Name Suffix,Nickname,File As,Organization Name,"
    "Organization Title,Organization Department,Birthday,Notes,Photo,Labels,"
    "E-mail 1 - Label,E-mail 1 - Value,Phone 1 - Label,Phone 1 - Value,"
    "Phone 2 - Label,Phone 2 - Value,Address 1 - Label,Address 1 - Formatted"
)
GOOGLE_ROWS = [
    # Home number first, mobile second: the mobile is kept.
    "Amina,,Juma,,,,,,,,Shule ya Upendo,Mwalimu,,,,,Wazazi ::: * myContacts,* Home,"
    "amina@example.org,Home,+255 22 212 3456,Mobile,+255 712 345 678,Home,"
    '"Mtaa wa Uhuru 12\nDar es Salaam"',
    # Two mobile numbers in one cell: the first is kept.
    "Baraka,,Mushi,,,,,,Bk,,,,,1990-04-01,Dereva,,* myContacts ::: * starred,,,Mobile,"
    "0754 321 098 ::: 0765 111 222,,,,",
    # No phone at all: reported, the others are imported.
    "Chausiku,,Said,,,,,,,,,,,,,,* myContacts,* Work,chausiku@example.org,,,,,,",
]


def google_csv() -> bytes:
    return ("\r\n".join([GOOGLE_HEADER, *GOOGLE_ROWS]) + "\r\n").encode("utf-8")


# Outlook's "Export to a file > Comma Separated Values" (classic Outlook for Windows): every
# column quoted, Windows-1252, phone numbers in several typed columns, noise columns such as
# Sensitivity and Priority on every contact.
OUTLOOK_HEADER = [
    "Title", "First Name", "Middle Name", "Last Name", "Suffix", "Company", "Department",
    "Job Title", "Business Street", "Business City", "Business Phone", "Home Phone",
    "Mobile Phone", "Other Phone", "Primary Phone", "Business Fax", "Categories",
    "E-mail Address", "E-mail Type", "E-mail Display Name", "Notes", "Priority", "Private",
    "Sensitivity",
]  # fmt: skip
OUTLOOK_ROWS = [
    ["", "Zoé", "", "Ndayisenga", "", "Café Kigoma Ltd", "Ventes", "Gérante", "Rue 3",
     "Kigoma", "+255 28 280 1234", "", "0784 000 111", "", "", "", "Clients;VIP",
     "zoe@cafe.example", "SMTP", "Zoé Ndayisenga (zoe@cafe.example)", "Préfère le français",
     "Normal", "False", "Normal"],
    ["Mr.", "Hamisi", "", "Kombo", "", "", "", "", "", "", "0222 123 456", "0655 000 222", "",
     "", "", "", "", "", "", "", "", "Normal", "False", "Normal"],
]  # fmt: skip


def outlook_csv() -> bytes:
    lines = [",".join(f'"{cell}"' for cell in row) for row in [OUTLOOK_HEADER, *OUTLOOK_ROWS]]
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


# Android's Contacts app (older versions) writes vCard 2.1 with quoted-printable UTF-8 names,
# soft line breaks, bare TYPE parameters and a base64 photo folded over many lines.
ANDROID_VCF_21 = (
    "BEGIN:VCARD\r\n"
    "VERSION:2.1\r\n"
    "N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:Mwakyusa;=C3=89lis=C3=A9;;;\r\n"
    "FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:=C3=89lis=C3=A9 Mwakyusa wa Mbeya Mji=\r\n"
    "ni\r\n"
    "TEL;HOME:022-2123456\r\n"
    "TEL;CELL;PREF:0713-456-789\r\n"
    "EMAIL;HOME:elise@example.org\r\n"
    "PHOTO;ENCODING=BASE64;JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsL\r\n"
    " DBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/2wBDAQkJCQwLDBgN\r\n"
    " DRgyIRwhMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjL/wAAR\r\n"
    "\r\n"
    "END:VCARD\r\n"
    "BEGIN:VCARD\r\n"
    "VERSION:2.1\r\n"
    "N:Otieno;Peter;;;\r\n"
    "TEL;WORK:+254 20 2222 333\r\n"
    "END:VCARD\r\n"
)

# iPhone (iOS Contacts, "Share Contact" or iCloud export): vCard 3.0, grouped item1. lines,
# TYPE lists with "pref", escaped commas, CATEGORIES.
IPHONE_VCF_30 = (
    "BEGIN:VCARD\r\n"
    "VERSION:3.0\r\n"
    "PRODID:-//Apple Inc.//iPhone OS 17.4//EN\r\n"
    "N:Mrema;Neema;;;\r\n"
    "FN:Neema Mrema\r\n"
    "ORG:Hospitali ya Mkoa\\, Moshi;\r\n"
    "item1.EMAIL;type=INTERNET;type=pref:neema@example.org\r\n"
    "item1.X-ABLabel:_$!<Other>!$_\r\n"
    "TEL;type=HOME;type=VOICE:027 275 4321\r\n"
    "TEL;type=IPHONE;type=CELL;type=VOICE;type=pref:+255 767 890 123\r\n"
    "CATEGORIES:Familia,Kanisa\r\n"
    "NOTE:Anapenda SMS asubuhi\\nsi jioni\r\n"
    "END:VCARD\r\n"
)

# Google Contacts' vCard export and other newer apps: vCard 4.0 with tel: URIs.
VCF_40 = (
    "BEGIN:VCARD\r\n"
    "VERSION:4.0\r\n"
    "FN:Rehema Kassim\r\n"
    "N:Kassim;Rehema;;;\r\n"
    'TEL;VALUE=uri;TYPE="voice,home":tel:+255-22-211-0000\r\n'
    'TEL;VALUE=uri;TYPE="cell,voice";PREF=1:tel:+255-745-000-111\r\n'
    "EMAIL;TYPE=work:rehema@example.org\r\n"
    "END:VCARD\r\n"
    "BEGIN:VCARD\r\n"
    "VERSION:4.0\r\n"
    "N:Ally;Salim;;;\r\n"
    "TEL;VALUE=uri:tel:+255-689-222-333\r\n"
    "END:VCARD\r\n"
)


def xlsx_by_xlsxwriter(rows: list[list], *, sheet: str = "Sheet1", numbers_as_numbers=True):
    """As Excel writes it: numbers typed into cells are numbers (phones lose their zero)."""
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False})
    worksheet = workbook.add_worksheet(sheet)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            worksheet.write(r, c, value)
    workbook.close()
    return buffer.getvalue()


def xlsx_by_openpyxl(rows: list[list], *, sheets: dict[str, list[list]] | None = None) -> bytes:
    workbook = openpyxl.Workbook()
    worksheet = workbook.active
    worksheet.title = "Wanafunzi"
    for row in rows:
        worksheet.append(row)
    for name, other in (sheets or {}).items():
        extra = workbook.create_sheet(name)
        for row in other:
            extra.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def zip_bomb(*, unpacked_bytes: int, declared_bytes: int | None = None) -> bytes:
    """An "XLSX" whose sheet inflates to `unpacked_bytes` of zeros.

    Built from one compressed block repeated, so making it is quick. With `declared_bytes`
    the archive lies about the sheet's size, as crafted bombs do to pass a size check."""
    block = 1024 * 1024
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    compressed_block = compressor.compress(b"\0" * block) + compressor.flush(zlib.Z_FULL_FLUSH)
    count = unpacked_bytes // block
    stream = compressed_block * count + compressor.flush(zlib.Z_FINISH)
    crc = 0  # never reached: the sizes give the bomb away before its end is read
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("xl/workbook.xml", '<?xml version="1.0"?><workbook/>')
    archive_bytes = buffer.getvalue()
    return _append_raw_member(
        archive_bytes,
        "xl/worksheets/sheet1.xml",
        stream,
        crc=crc,
        size=declared_bytes if declared_bytes is not None else count * block,
    )


def _append_raw_member(archive: bytes, name: str, deflated: bytes, *, crc: int, size: int):
    """Add an already-deflated member to a ZIP archive, with the sizes given."""
    import struct

    end = archive.rfind(b"PK\x05\x06")
    (entries, cd_size, cd_offset) = struct.unpack("<10xHII2x", archive[end : end + 22])
    central = archive[cd_offset : cd_offset + cd_size]
    body = archive[:cd_offset]
    encoded = name.encode()
    local = struct.pack(
        "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(deflated), size, len(encoded), 0
    )
    offset = len(body)
    body += local + encoded + deflated
    central += struct.pack(
        "<4sHHHHHHIIIHHHHHII",
        b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(deflated), size, len(encoded),
        0, 0, 0, 0, 0, offset,
    ) + encoded  # fmt: skip
    end_record = struct.pack(
        "<4sHHHHIIH", b"PK\x05\x06", 0, 0, entries + 1, entries + 1, len(central), len(body), 0
    )
    return body + central + end_record


BILLION_LAUGHS = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<!DOCTYPE lolz [\n"
    ' <!ENTITY lol "lol">\n'
    + "".join(
        f' <!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">\n'
        for i in range(1, 10)
    )
    + "]>\n"
)


def with_member_replaced(archive_bytes: bytes, name: str, content: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(archive_bytes))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = content if item.filename == name else source.read(item.filename)
            target.writestr(item.filename, data)
    return buffer.getvalue()
