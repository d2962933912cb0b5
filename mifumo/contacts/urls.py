from rest_framework.routers import SimpleRouter

from mifumo.contacts import views
from mifumo.contacts.imports.urls import urlpatterns as import_urls

router = SimpleRouter()
router.register("contacts", views.ContactViewSet, basename="contact")
router.register("groups", views.GroupViewSet, basename="group")

# Imports first: the router's contacts/<pk>/ would take "contacts/imports/" as a contact id.
urlpatterns = [*import_urls, *router.urls]
