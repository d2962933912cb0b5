"""Operations: request ids carried across processes, structured logs and Prometheus metrics.

context.py holds the request's id and the request itself for the current thread or task;
middleware.py sets them; celery.py carries the id into the tasks a request queues; logs.py and
metrics.py read them. multiproc.py prepares prometheus-client's multiprocess directory and
imports nothing of prometheus-client, so the CLI can call it before the library is loaded.
"""
