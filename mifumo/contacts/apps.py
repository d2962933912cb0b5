from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "mifumo.contacts"
    label = "contacts"
    verbose_name = "Contacts and groups"
