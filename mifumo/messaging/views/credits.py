"""credits endpoints."""

urlpatterns: list = []
