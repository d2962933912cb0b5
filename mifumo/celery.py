import os

from celery import Celery

import mifumo.observability.celery  # noqa: F401 - connects the request-id signal handlers

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mifumo.settings")

app = Celery("mifumo")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
