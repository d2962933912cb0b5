from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "mifumo.web"
    label = "web"
    verbose_name = "Dashboard"
