from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "mifumo.tenancy"
    label = "tenancy"
    verbose_name = "Tenants and users"

    def ready(self) -> None:
        from mifumo.tenancy import schema  # noqa: F401 - registers the OpenAPI auth schemes
