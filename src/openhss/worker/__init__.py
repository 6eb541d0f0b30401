"""Celery app and tasks. Tasks take ids and call services; the same code runs embedded and distributed."""
