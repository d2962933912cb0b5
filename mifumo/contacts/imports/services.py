"""Imports as the API and the workers run them.

`contacts_bulk_import` is the spec's bulk-import request: at most 1,000 contacts, imported
while the client waits. Anything larger is an import job: `import_job_create` checks and
keeps the file, `import_job_start` queues it (at once, or after the client has looked at the
preview and corrected the mapping), and `import_job_run` is one task's share of the work.
"""

from __future__ import annotations

import io
import json
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, BinaryIO

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils.timezone import now

from mifumo.contacts.imports import files, wal
from mifumo.contacts.imports import mapping as m
from mifumo.contacts.imports.models import ImportJob, ImportRowError, ImportStatus
from mifumo.contacts.imports.pipeline import (
    Importer,
    Prepared,
    check_mapping,
    chunks,
    data_rows,
    inspect_file,
)
from mifumo.contacts.imports.sniff import FileRejected
from mifumo.contacts.imports.upsert import ChunkResult, Policy
from mifumo.memory import collector_paused_in_task
from mifumo.observability import metrics
from mifumo.tenancy import audit
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.models import AuditAction, Tenant

STALLED_AFTER = timedelta(seconds=60)


@dataclass
class BulkImportResult:
    imported: int
    updated: int
    skipped: int
    total_processed: int
    errors: list[str]


def contacts_bulk_import(
    *,
    tenant: Tenant,
    data: bytes | None = None,
    contacts: list[Any] | None = None,
    sheet: str = "",
    skip_duplicates: bool = True,
    update_existing: bool = False,
) -> BulkImportResult:
    """Import a file's bytes (CSV text, a workbook, vCards) or a list of phone contacts
    ({full_name, phone, email}) at once. File-level problems raise FileRejected and import
    nothing; rejected rows are listed and the valid rows are imported all the same."""
    if contacts is not None:
        data = json.dumps(contacts, ensure_ascii=False).encode()
    try:
        # Outside the transaction: on SQLite it holds the write lock from its first statement.
        summary = inspect_file(
            data,
            region=tenant.default_region,
            sheet=sheet,
            max_rows=settings.CONTACTS_IMPORT_MAX_ROWS,
        )
    except FileRejected as error:
        audit.record_failure(error, tenant=tenant, action=AuditAction.CONTACTS_BULK_IMPORT)
        raise
    with audit.operation(tenant=tenant, action=AuditAction.CONTACTS_BULK_IMPORT) as op:
        importer = Importer(tenant, summary.mapping, Policy(skip_duplicates, update_existing))
        result = ChunkResult()
        started = time.monotonic()
        rows = data_rows(data, sheet=sheet, header_row=summary.header_row)
        for chunk in chunks(rows, settings.CONTACTS_IMPORT_CHUNK_ROWS):
            result.add(importer.import_chunk(chunk))
        metrics.IMPORT_ROWS.inc(summary.total_rows)
        metrics.IMPORT_SECONDS.inc(time.monotonic() - started)
        op.counts = {
            "total": summary.total_rows,
            "imported": result.imported,
            "updated": result.updated,
            "skipped": result.skipped,
            "rejected": len(result.errors),
        }
    return BulkImportResult(
        imported=result.imported,
        updated=result.updated,
        skipped=result.skipped,
        total_processed=summary.total_rows,
        errors=[error.as_text() for error in result.errors],
    )


# --- import jobs --------------------------------------------------------------------------------


def import_job_create(
    *,
    tenant: Tenant,
    user,
    file_name: str,
    data: bytes | BinaryIO,
    sheet: str = "",
    skip_duplicates: bool = True,
    update_existing: bool = False,
    overrides: dict[str, str] | None = None,
    start: bool = True,
) -> ImportJob:
    """Check the file (type, safety, structure, header) and keep it; queue it when `start`.
    Without `start` the job waits for import_job_start(), after the client's preview.

    `data` may be an open file (an upload Django spooled to disk): it is read as a stream."""
    stream = io.BytesIO(data) if isinstance(data, bytes | bytearray | memoryview) else data
    # A workbook's rows are kept as they are read: the worker reads those rather than parse the
    # workbook again (read_rows.py).
    with tempfile.TemporaryFile() as rows:
        # Recorded here, where the user hands the file over; the job keeps the import's counts.
        try:
            # Outside the transaction: reading a 10 MB workbook must not hold SQLite's write lock.
            summary = inspect_file(
                stream,
                region=tenant.default_region,
                sheet=sheet,
                overrides=overrides,
                require_phone=start,
                keep_rows=rows,
            )
        except FileRejected as error:
            audit.record_failure(
                error, tenant=tenant, action=AuditAction.CONTACTS_IMPORT_JOB, user=user
            )
            raise
        with audit.operation(
            tenant=tenant, action=AuditAction.CONTACTS_IMPORT_JOB, user=user
        ) as op:
            job = ImportJob.objects.create(
                tenant=tenant,
                created_by=user,
                file_name=file_name[:255],
                file_format=summary.file_format,
                file_size=files.size_of(stream),
                sheet=summary.details.get("sheet", ""),
                details=summary.details,
                header_row=summary.header_row,
                mapping=summary.mapping.as_list(),
                preview=summary.preview,
                skip_duplicates=skip_duplicates,
                update_existing=update_existing,
                total_rows=summary.total_rows,
            )
            files.keep(job.pk, rows if summary.rows_kept else stream)
            if start:
                _queue(job)
            op.add_ids([job.pk])
            op.counts = {"total_rows": summary.total_rows, "bytes": job.file_size}
    return job


def job_mapping(job: ImportJob) -> m.Mapping:
    return m.Mapping(
        columns=[item["column"] for item in job.mapping],
        fields=[item["field"] for item in job.mapping],
    )


@transaction.atomic
def import_job_start(
    *,
    job: ImportJob,
    overrides: dict[str, str] | None = None,
    skip_duplicates: bool | None = None,
    update_existing: bool | None = None,
) -> ImportJob:
    """Queue a job that waits for its start, with the client's corrections to the mapping."""
    mapping = job_mapping(job)
    if overrides:
        try:
            mapping = m.apply_overrides(mapping, overrides)
        except ValueError as error:
            raise ApplicationError(
                str(error), error_code="invalid_mapping", details={"mapping": [str(error)]}
            ) from None
    check_mapping(mapping)
    changes: dict[str, Any] = {"mapping": mapping.as_list(), "queued_at": now()}
    if skip_duplicates is not None:
        changes["skip_duplicates"] = skip_duplicates
    if update_existing is not None:
        changes["update_existing"] = update_existing
    # Conditional: of two /start/ calls at once, one queues the job and the other is told.
    claimed = ImportJob.objects.filter(
        pk=job.pk, status=ImportStatus.PENDING, queued_at__isnull=True
    ).update(**changes)
    if not claimed:
        raise ApplicationError(
            "This import has already been started.", error_code="import_started", status_code=409
        )
    job.refresh_from_db()
    _queue_on_commit(job.pk)
    return job


def _queue(job: ImportJob) -> None:
    job.queued_at = now()
    job.save(update_fields=["queued_at"])
    _queue_on_commit(job.pk)


def _queue_on_commit(job_id) -> None:
    from mifumo.contacts.tasks import run_import_job

    transaction.on_commit(lambda: run_import_job.delay(str(job_id)))


def _lease() -> timedelta:
    # Longer than any task may run (the hard time limit), shorter than the broker's
    # redelivery of a dead worker's task (the visibility timeout): a redelivered task finds
    # the lease expired and carries on.
    return timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)


class _Superseded(Exception):
    """Another task moved the job on meanwhile: this chunk's work is rolled back."""


def import_job_run(*, job_id, budget_seconds: float | None = None) -> bool:
    """Import chunks of the job until the time budget is spent. Returns True when another
    task must carry on (it has been queued). Safe to run twice at once, or again after a
    crash: each chunk commits with the job's progress, conditional on where it started."""
    started = time.monotonic()
    budget = settings.CONTACTS_IMPORT_TASK_SECONDS if budget_seconds is None else budget_seconds
    stamp = now()
    claimed = (
        ImportJob.objects.filter(
            pk=job_id,
            status__in=[ImportStatus.PENDING, ImportStatus.RUNNING],
            queued_at__isnull=False,
        )
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=stamp))
        .update(status=ImportStatus.RUNNING, lease_until=stamp + _lease())
    )
    if not claimed:
        return False
    ImportJob.objects.filter(pk=job_id, started_at__isnull=True).update(started_at=stamp)
    job = ImportJob.objects.select_related("tenant").defer("file_data", "preview").get(pk=job_id)
    importer = Importer(
        job.tenant,
        job_mapping(job),
        Policy(job.skip_duplicates, job.update_existing),
        started_at=job.started_at,  # the same in every task of the job
    )
    try:
        with (
            files.opened(job.pk) as stream,
            collector_paused_in_task(),
            wal.checkpoints_beside() as checkpoints,
        ):
            finished = _import_job_chunks(job, importer, stream, started, budget, checkpoints)
    except _Superseded:
        return False
    except FileRejected as error:
        _finish(job, ImportStatus.FAILED, error=error.message)
        return False
    if finished:
        _finish(job, ImportStatus.COMPLETED)
        return False
    with transaction.atomic():
        # lease_until = now, not None: the sweeper leaves a job alone while its lease is fresh.
        ImportJob.objects.filter(pk=job.pk).update(lease_until=now())
        _queue_on_commit(job.pk)
    return True


def _import_job_chunks(
    job: ImportJob,
    importer: Importer,
    stream: BinaryIO,
    started: float,
    budget: float,
    checkpoints: wal.Checkpointer,
) -> bool:
    """Import the file's chunks from the job's place on; False when the time ran out first."""
    rows = data_rows(
        stream,
        sheet=job.sheet,
        header_row=job.header_row,
        start_row=job.next_row,
        file_format=job.file_format,
    )
    prepared = importer.prepared_chunks(rows, settings.CONTACTS_IMPORT_CHUNK_ROWS)
    try:
        done_some = False
        for chunk in prepared:
            # Out of time with work left: this chunk is read again by the next task.
            if done_some and time.monotonic() - started > budget:
                return False
            _import_job_chunk(job, importer, chunk)
            checkpoints.committed()
            done_some = True
        return True
    finally:
        prepared.close()


def _import_job_chunk(job: ImportJob, importer: Importer, chunk: Prepared) -> None:
    started = time.monotonic()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # The chunk and the job's progress commit together, so losing the last commits
            # in a server crash loses nothing a resumed job would not redo: no need to wait
            # for the disk at each commit.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        result = importer.write(chunk)
        next_row = chunk.last_row + 1
        saved = ImportJob.objects.filter(pk=job.pk, next_row=job.next_row).update(
            next_row=next_row,
            rows_processed=F("rows_processed") + chunk.rows,
            imported=F("imported") + result.imported,
            updated=F("updated") + result.updated,
            skipped=F("skipped") + result.skipped,
            failed=F("failed") + len(result.errors),
            lease_until=now() + _lease(),
        )
        if not saved:
            raise _Superseded
        ImportRowError.objects.bulk_create(
            [
                ImportRowError(
                    job=job,
                    row=error.row,
                    column=error.column[:255],
                    value=error.value[:255],
                    reason=error.reason[:500],
                )
                for error in result.errors
            ]
        )
    metrics.IMPORT_ROWS.inc(chunk.rows)
    metrics.IMPORT_SECONDS.inc(time.monotonic() - started)
    job.next_row = next_row


def _finish(job: ImportJob, status: str, error: str = "") -> None:
    ImportJob.objects.filter(pk=job.pk, status=ImportStatus.RUNNING).update(
        status=status,
        error=error,
        finished_at=now(),
        lease_until=None,
        file_data=b"",  # the file is not needed any more: 10 MB back to the database
    )
    files.drop(job.pk)


def import_jobs_resume_stalled() -> list:
    """Queue again the jobs whose task was lost; duplicates find the job taken and stop."""
    stale = now() - STALLED_AFTER
    stalled = list(
        ImportJob.objects.filter(
            status__in=[ImportStatus.PENDING, ImportStatus.RUNNING], queued_at__isnull=False
        )
        .filter(Q(lease_until__isnull=True, queued_at__lt=stale) | Q(lease_until__lt=stale))
        .values_list("pk", flat=True)
    )
    for job_id in stalled:
        _queue_on_commit(job_id)
    files.remove_orphans()
    return stalled
