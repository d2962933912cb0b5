"""Bulk SMS from a spreadsheet: column A phone, B name, C message (else the template), D sender
id (else the request's or the default), further columns are template variables named by their
header. Rows are numbered as the spreadsheet shows them (the header is row 1), and every row
that cannot be sent says why ("Row 5: Invalid phone number format: ...")."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import BinaryIO

from django.conf import settings
from django.db import transaction

from mifumo.contacts.imports.pipeline import open_table
from mifumo.contacts.imports.sniff import FileRejected
from mifumo.contacts.phones import InvalidPhone, normalize_phone
from mifumo.delivery.models import Campaign
from mifumo.messaging.models import BulkUpload, Template
from mifumo.messaging.services.sender_ids import sender_id_resolve
from mifumo.messaging.services.sends import NoValidRecipients, RecipientInput, sms_send
from mifumo.messaging.templating import variable_key
from mifumo.tenancy import audit
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.models import AuditAction, AuditOutcome, Tenant, User

UPLOAD_KINDS = {"csv", "xlsx", "xls", "ods"}
FIXED_COLUMNS = 4  # phone, name, message, sender id
_PHONE_HEADERS = {"phone", "phone number", "phone_number", "mobile", "number", "msisdn", "simu"}


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 255712345678.0: a phone typed as a number
    return str(value).strip()


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _is_phone(text: str, region: str) -> bool:
    try:
        normalize_phone(text, region)
    except InvalidPhone:
        return False
    return True


def _read_rows(data: BinaryIO, region: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(variable names of columns E onwards, [(row number, cells as text)]) of the first sheet;
    blank rows are left out. The first row is a header unless its column A is a phone number."""
    try:
        table = open_table(data)
    except FileRejected:
        raise
    if table.details.get("format") not in (None, *UPLOAD_KINDS) or table.made_up_header:
        raise ApplicationError(
            "Upload an Excel (XLSX or XLS), OpenDocument or CSV file.",
            error_code="unsupported_file",
        )
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    limit = settings.SMS_UPLOAD_MAX_ROWS
    with table:
        for number, cells in table.rows:
            # Text cells inline: 50,000 rows of 5 cells spent a third of their reading in calls.
            texts = [cell.strip() if type(cell) is str else _cell_text(cell) for cell in cells]
            if not any(texts):
                continue
            if header is None and not rows:
                if not _is_phone(texts[0], region):
                    header = texts
                    continue
                header = []
            rows.append((number, texts))
            if len(rows) > limit:
                raise ApplicationError(
                    f"The file has more than {limit:,} rows; split it into several uploads.",
                    error_code="too_many_rows",
                    details={"max_rows": limit},
                )
    header = header or []
    width = max((len(cells) for _, cells in rows), default=0)
    names = []
    for index in range(FIXED_COLUMNS, max(width, len(header))):
        title = header[index] if index < len(header) else ""
        names.append(variable_key(title) if title else f"column_{_column_letter(index).lower()}")
    _check_phone_column(header, rows, region)
    return names, rows


def _check_phone_column(header: list[str], rows: list[tuple[int, list[str]]], region: str) -> None:
    """A file whose phones are not in column A (a contacts export with Name first) is refused
    as a whole with the reason, rather than reported as thousands of invalid numbers."""
    sample = rows[:50]
    if not sample or any(_is_phone(cells[0], region) for _, cells in sample if cells):
        return
    for index in range(1, max(len(cells) for _, cells in sample)):
        hits = sum(
            1 for _, cells in sample if len(cells) > index and _is_phone(cells[index], region)
        )
        if hits * 2 >= len(sample):
            headed = f" (headed {header[index]!r})" if index < len(header) and header[index] else ""
            raise ApplicationError(
                f"Column A must hold the phone numbers; they seem to be in column "
                f"{_column_letter(index)}{headed}. Expected columns: A phone, B name, "
                "C message, D sender id, then template variables.",
                error_code="wrong_columns",
                details={"column": _column_letter(index)},
            )
    if header and header[0].strip().lower() not in _PHONE_HEADERS:
        raise ApplicationError(
            f"Column A must hold the phone numbers; it is headed {header[0]!r} and holds no "
            "phone number in its first rows.",
            error_code="wrong_columns",
            details={"column": "A"},
        )


def sms_bulk_upload(
    *,
    tenant: Tenant,
    created_by: User | None,
    data: BinaryIO,
    file_name: str,
    sender_id: str = "",
    template: Template | None = None,
    campaign: Campaign | None = None,
    schedule_at: datetime | None = None,
    message: str = "",
) -> BulkUpload:
    """Send the file's rows; a row without its own text (column C) gets `message`, else the
    template's."""
    variable_names, rows = _read_rows(data, tenant.default_region)
    if not rows:
        raise ApplicationError(
            "The file has no rows to send (row 1 is the header).", error_code="empty_file"
        )
    default_sender = sender_id_resolve(tenant=tenant, requested=sender_id)
    errors: list[str] = []
    by_sender: dict[str, list[RecipientInput]] = defaultdict(list)
    resolved: dict[str, str | None] = {}
    processed = 0
    for number, cells in rows:
        cells = cells + [""] * (FIXED_COLUMNS - len(cells))
        phone, name, row_message, row_sender = cells[:FIXED_COLUMNS]
        if not phone:
            errors.append(f"Row {number}: Missing required field: phone number (column A)")
            continue
        sender = default_sender
        if row_sender:
            if row_sender not in resolved:
                try:
                    resolved[row_sender] = sender_id_resolve(tenant=tenant, requested=row_sender)
                except ApplicationError:
                    resolved[row_sender] = None
            sender = resolved[row_sender]
            if sender is None:
                errors.append(f"Row {number}: Sender id {row_sender!r} is not approved")
                continue
        variables = dict(zip(variable_names, cells[FIXED_COLUMNS:], strict=False))
        by_sender[sender].append(
            RecipientInput(
                label=f"Row {number}",
                phone=phone,
                name=name,
                message=row_message,
                variables=variables,
            )
        )
    upload = BulkUpload(tenant=tenant, created_by=created_by, file_name=file_name[:255])
    successful = 0
    campaigns = []
    with transaction.atomic():
        for sender, recipients in by_sender.items():
            try:
                outcome = sms_send(
                    tenant=tenant,
                    created_by=created_by,
                    recipients=recipients,
                    message=message,
                    template=template,
                    sender_id=sender,
                    schedule_at=schedule_at,
                    campaign=campaign if sender == default_sender else None,
                    origin="bulk_upload",
                    name=file_name[:200],
                )
            except NoValidRecipients as refused:
                results = refused.results
            else:
                results = outcome.results
                campaigns.append(outcome.campaign)
            for result in results:
                processed += not result.invalid_phone
                successful += result.success
                if result.error:
                    errors.append(result.error)
        errors.sort(key=_row_number)
        upload.total_contacts = len(rows)
        upload.processed_contacts = processed
        upload.successful_contacts = successful
        upload.errors = errors
        upload.save()
        upload.campaigns.set([c for c in campaigns if c is not None])
        audit.record(
            tenant=tenant,
            action=AuditAction.SMS_BULK_UPLOAD,
            object_ids=[upload.pk, *(c.pk for c in campaigns if c is not None)],
            counts={
                "total": len(rows),
                "processed": processed,
                "accepted": successful,
                "rejected": len(errors),
            },
            outcome=AuditOutcome.SUCCEEDED if successful else AuditOutcome.FAILED,
            error_code="" if successful else "no_valid_recipients",
            user=created_by,
        )
    return upload


def _row_number(error: str) -> int:
    head = error.split(":", 1)[0]
    return int(head[4:]) if head.startswith("Row ") and head[4:].isdigit() else 0
