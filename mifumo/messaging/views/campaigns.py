"""campaigns endpoints."""

urlpatterns: list = []
