"""Mifumo: self-hostable bulk SMS and e-mail."""

from mifumo.celery import app as celery_app

__all__ = ["celery_app"]
