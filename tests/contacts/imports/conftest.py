from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from mifumo.contacts.imports import services
from mifumo.contacts.imports.models import ImportJob, ImportStatus
from mifumo.contacts.models import Contact


def upload(name: str, content: bytes, content_type: str = "application/octet-stream"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def run_jobs(max_tasks: int = 100) -> int:
    """Do what the workers do: run every queued job's tasks until none has work left.
    Returns how many tasks ran."""
    tasks = 0
    while tasks < max_tasks:
        queued = ImportJob.objects.filter(
            status__in=[ImportStatus.PENDING, ImportStatus.RUNNING], queued_at__isnull=False
        ).values_list("pk", flat=True)
        if not queued:
            return tasks
        for job_id in queued:
            services.import_job_run(job_id=job_id)
            tasks += 1
    raise AssertionError("jobs never finished")


def phones_of(tenant) -> set[str]:
    return set(Contact.objects.filter(tenant=tenant).values_list("phone_e164", flat=True))


@pytest.fixture
def contact_in(db):
    """create_contact(tenant, phone, **fields): a contact made through the service."""
    from mifumo.contacts.services import contact_create

    def create(tenant, phone: str, **fields):
        return contact_create(tenant=tenant, phone=phone, **fields)

    return create
