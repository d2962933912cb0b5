from django.urls import path

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
