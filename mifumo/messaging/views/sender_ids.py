"""sender_ids endpoints."""

urlpatterns: list = []
