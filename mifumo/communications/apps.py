from django.apps import AppConfig


class CommunicationsConfig(AppConfig):
    name = "mifumo.communications"
    label = "communications"
    verbose_name = "School bulk messages"
