from django.apps import AppConfig
from django.db.models.signals import post_save


def _tenant_created(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw:
        from mifumo.messaging.services.billing import tenant_signup_credits

        tenant_signup_credits(tenant=instance)


class MessagingConfig(AppConfig):
    name = "mifumo.messaging"
    label = "messaging"
    verbose_name = "Messaging"

    def ready(self) -> None:
        from mifumo.tenancy.models import Tenant

        # A signal, not a call in tenancy.services.tenant_register: tenancy must not import
        # messaging (messaging depends on tenancy), and tenants made in the admin get credits too.
        post_save.connect(_tenant_created, sender=Tenant, dispatch_uid="messaging_signup_credits")
