"""POST /api/messaging/contacts/bulk-import/ and the import jobs at .../contacts/imports/."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from mifumo.contacts.export import neutralise
from mifumo.contacts.imports import mapping as m
from mifumo.contacts.imports import services
from mifumo.contacts.imports.models import ImportJob, ImportRowError
from mifumo.contacts.imports.serializers import (
    BulkImportResponseSerializer,
    BulkImportSerializer,
    ImportJobCreateSerializer,
    ImportJobSerializer,
    ImportJobStartSerializer,
    ImportPreviewSerializer,
)
from mifumo.tenancy.models import AuditAction
from mifumo.tenancy.parsers import BoundedJSONParser
from mifumo.tenancy.scoping import TenantScopedMixin, get_for_tenant_or_404
from mifumo.tenancy.throttles import ContactsBulkThrottle
from mifumo.tenancy.uploads import checked_upload


def _file_bytes(upload) -> bytes:
    return checked_upload(upload).read()


class BulkImportView(APIView):
    """Import up to 1,000 contacts now: CSV text or file, a workbook, or phone contacts."""

    parser_classes = [BoundedJSONParser, MultiPartParser]
    throttle_classes = [ContactsBulkThrottle]
    audit_action = AuditAction.CONTACTS_BULK_IMPORT

    @extend_schema(
        request={
            "application/json": BulkImportSerializer,
            "multipart/form-data": BulkImportSerializer,
        },
        responses={201: BulkImportResponseSerializer},
    )
    def post(self, request):
        serializer = BulkImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        upload = data.get("file")
        result = services.contacts_bulk_import(
            tenant=request.tenant,
            data=_file_bytes(upload) if upload else data.get("csv_data", "").encode(),
            contacts=data.get("contacts") if data["import_type"] == "phone_contacts" else None,
            sheet=data["sheet"],
            skip_duplicates=data["skip_duplicates"],
            update_existing=data["update_existing"],
        )
        body = {
            "success": True,
            "imported": result.imported,
            "updated": result.updated,
            "skipped": result.skipped,
            "total_processed": result.total_processed,
            "errors": result.errors,
            "message": f"Successfully imported {result.imported}, updated {result.updated}, "
            f"skipped {result.skipped} contacts",
        }
        return Response(body, status=status.HTTP_201_CREATED)


class ImportJobListView(TenantScopedMixin, generics.ListAPIView):
    """The organisation's import jobs, newest first; POST uploads a file as a new job."""

    serializer_class = ImportJobSerializer
    queryset = ImportJob.objects.defer("file_data", "preview").order_by("-created_at")
    parser_classes = [MultiPartParser]
    audit_action = AuditAction.CONTACTS_IMPORT_JOB

    def get_throttles(self):
        return [ContactsBulkThrottle()] if self.request.method == "POST" else []

    @extend_schema(request=ImportJobCreateSerializer, responses={201: ImportJobSerializer})
    def post(self, request):
        serializer = ImportJobCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = services.import_job_create(
            tenant=request.tenant,
            user=request.user,
            file_name=data["file"].name or "",
            data=checked_upload(data["file"]),  # read as a stream, not held whole
            sheet=data["sheet"],
            skip_duplicates=data["skip_duplicates"],
            update_existing=data["update_existing"],
            overrides=data["mapping"],
            start=data["start"],
        )
        return Response(ImportJobSerializer(job).data, status=status.HTTP_201_CREATED)


class ImportJobDetailView(TenantScopedMixin, generics.RetrieveAPIView):
    """A job's status, progress, counts and its first 20 rejected rows."""

    serializer_class = ImportJobSerializer
    queryset = ImportJob.objects.defer("file_data", "preview")

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "with_errors": True}


def _job(request, pk) -> ImportJob:
    return get_for_tenant_or_404(ImportJob.objects.defer("file_data"), request.tenant, pk=pk)


class ImportJobPreviewView(APIView):
    @extend_schema(responses=ImportPreviewSerializer)
    def get(self, request, pk):
        """The first 20 rows and the detected column mapping; correct it with /start/."""
        job = _job(request, pk)
        mapping = services.job_mapping(job)
        body = {
            "id": job.pk,
            "file_format": job.file_format,
            "details": job.details,
            "header_row": job.header_row,
            "columns": mapping.columns,
            "mapping": job.mapping,
            "fields": m.FIELDS,
            "rows": job.preview,
            "total_rows": job.total_rows,
            "has_phone_column": mapping.has(m.PHONE),
        }
        return Response(ImportPreviewSerializer(body).data)


class ImportJobStartView(APIView):
    @extend_schema(request=ImportJobStartSerializer, responses={202: ImportJobSerializer})
    def post(self, request, pk):
        """Start a job created with start=false, optionally correcting the mapping."""
        serializer = ImportJobStartSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = services.import_job_start(
            job=_job(request, pk),
            overrides=data["mapping"],
            skip_duplicates=data.get("skip_duplicates"),
            update_existing=data.get("update_existing"),
        )
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _errors_csv(job: ImportJob) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"
    yield writer.writerow(["row", "column", "value", "reason"])
    errors = ImportRowError.objects.filter(job=job).order_by("row", "pk")
    for error in errors.values_list("row", "column", "value", "reason").iterator(2000):
        yield writer.writerow([error[0], *(neutralise(text) for text in error[1:])])


class ImportJobErrorsView(APIView):
    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.BINARY})
    def get(self, request, pk):
        """Every rejected row: row number, column, value and reason, as CSV."""
        job = _job(request, pk)
        response = StreamingHttpResponse(_errors_csv(job), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
        return response
