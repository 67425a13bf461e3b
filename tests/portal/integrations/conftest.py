"""Webhook tests place orders, call the API and count events sent by hand in
the cache: they take the API tests' token clients, fresh cache counts and
empty queue."""

from tests.api.conftest import (  # noqa: F401 - fixtures
    _fresh_throttle_counts,
    _leave_the_queue_empty,
    api_for,
)
