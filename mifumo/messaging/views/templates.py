"""templates endpoints."""

urlpatterns: list = []
