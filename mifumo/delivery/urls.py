from django.urls import path

from mifumo.delivery import views

urlpatterns = [
    path("webhooks/<str:provider>/", views.DeliveryReportView.as_view(), name="delivery-report"),
]
