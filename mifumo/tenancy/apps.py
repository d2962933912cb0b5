from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "mifumo.tenancy"
    label = "tenancy"
    verbose_name = "Tenants and users"
