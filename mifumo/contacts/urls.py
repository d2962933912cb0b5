from rest_framework.routers import SimpleRouter

from mifumo.contacts import views

router = SimpleRouter()
router.register("contacts", views.ContactViewSet, basename="contact")
router.register("groups", views.GroupViewSet, basename="group")

urlpatterns = router.urls
