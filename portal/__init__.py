"""Squadron's Django project and self-service portal."""

from portal.celery import app as celery_app

__all__ = ["celery_app"]
