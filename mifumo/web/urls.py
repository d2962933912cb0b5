"""The dashboard's pages. Each module of views/ lists its own routes."""

from mifumo.web.views import auth, contacts, home, imports

app_name = "web"
urlpatterns = [
    *auth.urlpatterns,
    *home.urlpatterns,
    *contacts.urlpatterns,
    *imports.urlpatterns,
]
