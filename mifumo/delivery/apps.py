from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "mifumo.delivery"
    label = "delivery"
    verbose_name = "Delivery engine"
