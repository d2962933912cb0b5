"""The Redis that holds shared counters (throttles, provider rate limits) for every process."""

from functools import cache

import redis
from django.conf import settings


@cache
def shared_redis() -> redis.Redis:
    # redis-py's pool notices a fork and reconnects, so one client per process is safe under
    # gunicorn and Celery's prefork pool.
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
