from django.urls import path
from rest_framework.routers import SimpleRouter

from mifumo.tenancy import views

urlpatterns = [
    path("register/", views.RegisterView.as_view(), name="auth-register"),
    path("token/", views.TokenObtainView.as_view(), name="auth-token"),
    path("token/refresh/", views.TokenRefreshView.as_view(), name="auth-token-refresh"),
    path("logout/", views.LogoutView.as_view(), name="auth-logout"),
    path("me/", views.MeView.as_view(), name="auth-me"),
    path("users/", views.UserListView.as_view(), name="auth-users"),
    path("users/<uuid:pk>/", views.UserDetailView.as_view(), name="auth-user-detail"),
    path("api-keys/", views.ApiKeyListView.as_view(), name="auth-api-keys"),
    path("api-keys/<uuid:pk>/", views.ApiKeyDetailView.as_view(), name="auth-api-key-detail"),
]

# Mounted under /api/messaging/ (mifumo/urls.py), beside the operations it records.
audit_router = SimpleRouter()
audit_router.register("audit-log", views.AuditRecordViewSet, basename="audit-record")
audit_urlpatterns = audit_router.urls
