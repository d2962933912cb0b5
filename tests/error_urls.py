"""Views that fail on purpose, beside the real routes, to test the error handling itself."""

from django.http import HttpResponse
from django.urls import path
from rest_framework.views import APIView

from mifumo.tenancy.errors import ApplicationError
from mifumo.urls import handler400, handler403, handler404, handler500  # noqa: F401
from mifumo.urls import urlpatterns as real_urlpatterns


class Broken(APIView):
    def get(self, request):
        raise RuntimeError("a bug")


class RichError(APIView):
    def get(self, request):
        raise ApplicationError(
            "Some contacts not found: ['x']",
            error_code="contacts_not_found",
            status_code=404,
            details={"missing_ids": ["x"]},
            body={"updated_count": 0, "total_requested": 1},
        )


def plain_django_view(request):
    raise RuntimeError("a bug outside DRF")
    return HttpResponse()  # pragma: no cover


urlpatterns = [
    path("broken/", Broken.as_view()),
    path("rich-error/", RichError.as_view()),
    path("plain-broken/", plain_django_view),
    *real_urlpatterns,
]
