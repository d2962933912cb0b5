"""estimate endpoints."""

urlpatterns: list = []
