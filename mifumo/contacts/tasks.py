"""Contacts' background work: import jobs, in short tasks that queue their successor, and the
fold of the contact list's counts."""

from __future__ import annotations

from celery import shared_task

from mifumo.contacts import services as contact_services
from mifumo.contacts.imports import services


@shared_task(name="mifumo.contacts.tasks.run_import_job")
def run_import_job(job_id: str) -> None:
    services.import_job_run(job_id=job_id)


@shared_task(name="mifumo.contacts.tasks.resume_stalled_imports")
def resume_stalled_imports() -> None:
    services.import_jobs_resume_stalled()


@shared_task(name="mifumo.contacts.tasks.fold_contact_counts")
def fold_contact_counts() -> None:
    contact_services.contact_counts_fold()
