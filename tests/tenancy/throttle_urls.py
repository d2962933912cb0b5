"""A throttled probe endpoint beside the real routes, for testing the throttle alone."""

from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from mifumo.tenancy.throttles import ContactsBulkThrottle, SmsBulkThrottle
from mifumo.urls import handler400, handler403, handler404, handler500  # noqa: F401
from mifumo.urls import urlpatterns as real_urlpatterns


class ContactsBulkProbe(APIView):
    throttle_classes = [ContactsBulkThrottle]

    def post(self, request):
        return Response({"ok": True})


class SmsBulkProbe(APIView):
    throttle_classes = [SmsBulkThrottle]

    def post(self, request):
        return Response({"ok": True})


urlpatterns = [
    path("probe/contacts-bulk/", ContactsBulkProbe.as_view()),
    path("probe/sms-bulk/", SmsBulkProbe.as_view()),
    *real_urlpatterns,
]
