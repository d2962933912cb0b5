"""The dashboard's pages. Each module of views/ lists its own routes."""

from mifumo.web.views import auth, home

app_name = "web"
urlpatterns = [*auth.urlpatterns, *home.urlpatterns]
