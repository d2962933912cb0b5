"""sends endpoints."""

urlpatterns: list = []
