from django.urls import path

from mifumo.contacts.imports import views

# Included before the contacts router, whose contacts/<pk>/ would otherwise take these paths.
urlpatterns = [
    path("contacts/bulk-import/", views.BulkImportView.as_view(), name="contacts-bulk-import"),
    path("contacts/imports/", views.ImportJobListView.as_view(), name="import-job-list"),
    path("contacts/imports/<uuid:pk>/", views.ImportJobDetailView.as_view(), name="import-job"),
    path(
        "contacts/imports/<uuid:pk>/preview/",
        views.ImportJobPreviewView.as_view(),
        name="import-job-preview",
    ),
    path(
        "contacts/imports/<uuid:pk>/start/",
        views.ImportJobStartView.as_view(),
        name="import-job-start",
    ),
    path(
        "contacts/imports/<uuid:pk>/errors.csv",
        views.ImportJobErrorsView.as_view(),
        name="import-job-errors",
    ),
]
