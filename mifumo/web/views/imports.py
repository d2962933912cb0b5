"""The import wizard: upload a file, check the detected columns in a preview, start the job,
watch its progress, then read its counts and download the rejected rows. The same import jobs
as /api/messaging/contacts/imports/, run by the workers."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django import forms
from django.conf import settings
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import path
from django.views.decorators.http import require_POST

from mifumo.contacts.export import neutralise
from mifumo.contacts.imports import mapping as m
from mifumo.contacts.imports import services
from mifumo.contacts.imports.models import ImportJob, ImportRowError, ImportStatus
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.scoping import for_tenant, get_for_tenant_or_404
from mifumo.web.access import tenant_page

FIELD_LABELS = {
    m.NAME: "Name",
    m.FIRST_NAME: "First name",
    m.MIDDLE_NAME: "Middle name",
    m.LAST_NAME: "Last name",
    m.PHONE: "Phone",
    m.EMAIL: "E-mail",
    m.TAGS: "Tags",
    m.GROUPS: "Groups",
    m.ROLE: "Role (student, parent, teacher…)",
    m.CLASS: "Class",
    m.GUARDIAN_PHONE: "Guardian's phone",
    m.GUARDIAN_NAME: "Guardian's name",
    m.IS_ACTIVE: "Active (yes/no)",
    m.OPTED_OUT: "Opted out (yes/no)",
    m.PHONE_LABEL: "Phone label (mobile, home…)",
    m.ATTRIBUTE: "Keep as an attribute",
    m.IGNORE: "Ignore this column",
}
FIELD_CHOICES = [(field, FIELD_LABELS.get(field, field)) for field in m.FIELDS]

# What to do with a row whose phone number is already a contact: (skip_duplicates,
# update_existing) as the import job takes them.
DUPLICATES = {
    "skip": ("Leave the contact as it is (the row is skipped)", True, False),
    "update": ("Update the contact with the row's values", True, True),
    "fail": ("Reject the row (listed with the rejected rows)", False, False),
}
FILE_TYPES = ".csv,.tsv,.txt,.xlsx,.xls,.ods,.vcf,.vcard,.json"


class UploadForm(forms.Form):
    file = forms.FileField(
        label="File",
        help_text="CSV, Excel (XLSX, XLS), OpenDocument (ODS), vCard or JSON; at most 10 MB.",
        widget=forms.ClearableFileInput(attrs={"accept": FILE_TYPES}),
    )
    sheet = forms.CharField(
        required=False,
        max_length=200,
        label="Sheet",
        help_text="Workbooks only; default: the first.",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"The file is {filesizeformat(upload.size)}; the limit is "
                f"{filesizeformat(settings.MAX_UPLOAD_BYTES)}."
            )
        return upload


def _job(request, pk) -> ImportJob:
    return get_for_tenant_or_404(ImportJob.objects.defer("file_data"), request.tenant, pk=pk)


def _awaiting_start(job: ImportJob) -> bool:
    return job.status == ImportStatus.PENDING and job.queued_at is None


@tenant_page
def import_list(request):
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = services.import_job_create(
                tenant=request.tenant,
                user=request.user,
                file_name=upload.name or "",
                data=upload.file,  # read as a stream, not held whole
                sheet=form.cleaned_data["sheet"],
                start=False,  # the user checks the columns first
            )
        except ApplicationError as error:
            form.add_error("sheet" if "sheet" in error.details else "file", error.message)
        else:
            return redirect("web:import", pk=job.pk)
    jobs = for_tenant(ImportJob, request.tenant).defer("file_data", "preview")[:20]
    return render(request, "web/imports/list.html", {"form": form, "jobs": jobs})


def _preview_context(job: ImportJob, chosen: dict[int, str], duplicates: str) -> dict:
    mapping = services.job_mapping(job)
    columns = []
    for index, (column, field) in enumerate(zip(mapping.columns, mapping.fields, strict=True)):
        examples = [row["cells"][index] for row in job.preview[:3] if index < len(row["cells"])]
        columns.append(
            {
                "index": index,
                "name": column,
                "field": chosen.get(index, field),
                "examples": [example for example in examples if example],
            }
        )
    return {
        "job": job,
        "columns": columns,
        "rows": job.preview,
        "choices": FIELD_CHOICES,
        "duplicates": [(key, label) for key, (label, _, _) in DUPLICATES.items()],
        "duplicates_chosen": duplicates,
    }


@tenant_page
def import_detail(request, pk):
    job = _job(request, pk)
    if _awaiting_start(job):
        duplicates = "update" if job.update_existing else "skip" if job.skip_duplicates else "fail"
        return render(request, "web/imports/preview.html", _preview_context(job, {}, duplicates))
    return render(request, "web/imports/detail.html", _progress_context(job))


@tenant_page
@require_POST
def import_start(request, pk):
    job = _job(request, pk)
    if not _awaiting_start(job):
        return redirect("web:import", pk=job.pk)
    mapping = services.job_mapping(job)
    chosen = {
        index: request.POST[f"field-{index}"]
        for index in range(len(mapping.columns))
        if request.POST.get(f"field-{index}") in m.FIELDS
    }
    # Only the columns the user changed, keyed by their name as the job's API takes them.
    overrides = {
        mapping.columns[index]: field
        for index, field in chosen.items()
        if field != mapping.fields[index]
    }
    duplicates = request.POST.get("duplicates", "skip")
    _, skip_duplicates, update_existing = DUPLICATES.get(duplicates, DUPLICATES["skip"])
    try:
        services.import_job_start(
            job=job,
            overrides=overrides,
            skip_duplicates=skip_duplicates,
            update_existing=update_existing,
        )
    except ApplicationError as error:
        context = {**_preview_context(job, chosen, duplicates), "error": error.message}
        return render(request, "web/imports/preview.html", context)
    return redirect("web:import", pk=job.pk)


def _progress_context(job: ImportJob) -> dict:
    finished = job.is_finished
    total = max(job.total_rows, 1)
    percent = 100 if job.status == ImportStatus.COMPLETED else job.rows_processed * 100 // total
    return {
        "job": job,
        "finished": finished,
        "waiting": _awaiting_start(job),
        "percent": percent,
        "first_errors": job.row_errors.order_by("row", "pk")[:20] if finished else [],
    }


@tenant_page
def import_progress(request, pk):
    """The progress section alone, which the page polls (htmx) until the job has finished."""
    job = _job(request, pk)
    return render(request, "web/imports/_progress.html", _progress_context(job))


class _Echo:
    def write(self, value: str) -> str:
        return value


def _errors_csv(job: ImportJob) -> Iterator[str]:
    # As the API's errors.csv: a BOM so that Excel reads UTF-8, and text that a spreadsheet
    # would run as a formula neutralised.
    writer = csv.writer(_Echo())
    yield "\ufeff"
    yield writer.writerow(["row", "column", "value", "reason"])
    errors = ImportRowError.objects.filter(job=job).order_by("row", "pk")
    for row, *texts in errors.values_list("row", "column", "value", "reason").iterator(2000):
        yield writer.writerow([row, *(neutralise(text) for text in texts)])


@tenant_page
def import_errors(request, pk):
    job = _job(request, pk)
    response = StreamingHttpResponse(_errors_csv(job), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
    return response


urlpatterns = [
    path("imports/", import_list, name="imports"),
    path("imports/<uuid:pk>/", import_detail, name="import"),
    path("imports/<uuid:pk>/start/", import_start, name="import-start"),
    path("imports/<uuid:pk>/progress/", import_progress, name="import-progress"),
    path("imports/<uuid:pk>/errors.csv", import_errors, name="import-errors"),
]
