from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from mifumo.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/auth/", include("mifumo.tenancy.urls")),
    path("api/messaging/", include("mifumo.contacts.urls")),
    path("api/messaging/", include("mifumo.delivery.urls")),
    path("api/messaging/", include("mifumo.messaging.urls")),
    path("api/communications/", include("mifumo.communications.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/", admin.site.urls),
    path("", include("mifumo.web.urls")),
]

handler400 = "mifumo.tenancy.errors.handler400"
handler403 = "mifumo.web.errors.handler403"
handler404 = "mifumo.web.errors.handler404"
handler500 = "mifumo.web.errors.handler500"
