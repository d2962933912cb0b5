from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from mifumo.health import healthz
from mifumo.observability.metrics import metrics_view
from mifumo.tenancy.urls import audit_urlpatterns

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("api/auth/", include("mifumo.tenancy.urls")),
    path("api/messaging/", include("mifumo.contacts.urls")),
    path("api/messaging/", include("mifumo.delivery.urls")),
    path("api/messaging/", include("mifumo.messaging.urls")),
    path("api/messaging/", include(audit_urlpatterns)),
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
