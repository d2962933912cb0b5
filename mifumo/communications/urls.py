from django.urls import path
from rest_framework.routers import SimpleRouter

from mifumo.communications.views import BulkMessageViewSet, RecipientGroupsView

router = SimpleRouter()
router.register("bulk-messages", BulkMessageViewSet, basename="bulk-message")
urlpatterns = [
    *router.urls,
    path("recipient-groups/", RecipientGroupsView.as_view(), name="recipient-groups"),
]
