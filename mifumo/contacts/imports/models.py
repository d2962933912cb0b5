"""Import jobs: a file uploaded once, imported in the background in short chunks.

The file is kept in the database on PostgreSQL (at most 10 MB), so any worker on any host can
read it, and beside the database on SQLite (see files.py); it is dropped when the job ends.
Progress, counts and the rejected rows are written in the same transaction as each chunk's
contacts, so a worker that dies mid-chunk leaves the job exactly where the last committed
chunk left it, and the next task resumes from there.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.timezone import now

from mifumo.tenancy.models import Tenant


class ImportStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # uploaded; waiting to be started or for a worker
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"  # a file-level error stopped it; `error` says why


class ImportJob(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="import_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    status = models.CharField(
        max_length=10, choices=ImportStatus.choices, default=ImportStatus.PENDING
    )
    file_name = models.CharField(max_length=255, blank=True)
    file_format = models.CharField(max_length=10)  # csv, xlsx, xls, ods, vcf, json
    file_size = models.PositiveIntegerField(default=0)
    # PostgreSQL only (SQLite: a file, see files.py); emptied when the job ends.
    file_data = models.BinaryField(editable=False)
    sheet = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=dict, blank=True)  # encoding, delimiter, sheets
    header_row = models.PositiveIntegerField(default=1)  # 0: the file has no header row
    mapping = models.JSONField(default=list)  # [{"column": "Simu", "field": "phone"}, ...]
    preview = models.JSONField(default=list, blank=True)  # the first 20 rows
    skip_duplicates = models.BooleanField(default=True)
    update_existing = models.BooleanField(default=False)

    total_rows = models.PositiveIntegerField(default=0)  # non-blank rows after the header
    rows_processed = models.PositiveIntegerField(default=0)
    next_row = models.PositiveIntegerField(default=0)  # where the next chunk starts reading
    imported = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    created_at = models.DateTimeField(default=now)
    queued_at = models.DateTimeField(null=True, blank=True)  # None: waiting for /start/
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The task working on it holds it until then; a redelivered task finds it taken.
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "contacts"
        ordering = ["-created_at"]
        indexes = [
            # The job list: a tenant's jobs, newest first.
            models.Index(fields=["tenant", "-created_at"], name="importjob_tenant_created"),
            # The sweeper: queued or running jobs whose lease ran out.
            models.Index(fields=["status", "lease_until"], name="importjob_status_lease"),
        ]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (ImportStatus.COMPLETED, ImportStatus.FAILED)


class ImportRowError(models.Model):
    """A rejected row: what errors.csv lists."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    row = models.PositiveIntegerField()
    column = models.CharField(max_length=255, blank=True)
    value = models.CharField(max_length=255, blank=True)
    reason = models.CharField(max_length=500)

    class Meta:
        app_label = "contacts"
        # errors.csv and the job's first errors, in row order.
        indexes = [models.Index(fields=["job", "row"], name="importrowerror_job_row")]

    def __str__(self) -> str:
        return f"Row {self.row}: {self.reason}"
