"""The dashboard's pages. Each module of views/ lists its own routes."""

from mifumo.web.views import auth, campaigns, compose, contacts, home, imports, school
from mifumo.web.views import settings as settings_pages

app_name = "web"
urlpatterns = [
    *auth.urlpatterns,
    *home.urlpatterns,
    *settings_pages.urlpatterns,
    *school.urlpatterns,
    *contacts.urlpatterns,
    *imports.urlpatterns,
    *compose.urlpatterns,
    *campaigns.urlpatterns,
]
