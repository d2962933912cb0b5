from celery import shared_task

from mifumo.tenancy import services


@shared_task
def flush_expired_tokens() -> int:
    return services.expired_tokens_flush()
