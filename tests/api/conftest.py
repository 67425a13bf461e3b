"""API test fixtures: products of the base cast's squad, and clients that
authenticate with a real API token (``Authorization: Token KEY``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from portal.integrations.tokens import token_create


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    """Throttle counts live in the (per-process) cache; primary keys repeat
    between tests, so one test's requests must not count against the next."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _leave_the_queue_empty():
    """Orders and webhooks dispatched by a test (after a captured commit) must
    not stay in this process's queue, where other tests count messages."""
    yield
    from django.conf import settings

    from portal.celery import app

    try:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge(settings.CELERY_TASK_DEFAULT_QUEUE)
    except Exception:  # noqa: BLE001, S110 - a queue never declared has nothing to purge
        pass


@pytest.fixture
def api_for(db) -> Callable[..., APIClient]:
    """``api_for(user)``: a client sending a fresh token of ``user``; ``None`` is anonymous."""

    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            key = token_create(user=user, name="tests").key
            client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return client

    return make
