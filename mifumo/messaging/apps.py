from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "mifumo.messaging"
    label = "messaging"
    verbose_name = "Messaging"
