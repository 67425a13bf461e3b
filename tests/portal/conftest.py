from __future__ import annotations

import pytest

from catalogue.choices import ApprovalPolicy, Fulfilment
from squads.choices import Role
from tests.factories import MembershipFactory, ProductFactory, UserFactory

FORM = {
    "type": "object",
    "required": ["hostname"],
    "properties": {
        "hostname": {"type": "string", "title": "Host name", "format": "hostname", "maxLength": 63},
        "size": {"type": "integer", "minimum": 1, "maximum": 64, "default": 2},
        "token": {"type": "string", "x-secret": True, "minLength": 4},
    },
}


@pytest.fixture
def product(squad):
    return ProductFactory(slug="vm", name="Virtual machine", squad=squad, form_schema=FORM)


@pytest.fixture
def approval_product(squad):
    return ProductFactory(
        slug="firewall",
        name="Firewall rule",
        squad=squad,
        form_schema=FORM,
        approval_policy=ApprovalPolicy.SQUAD,
    )


@pytest.fixture
def manual_product(squad):
    return ProductFactory(
        slug="database",
        name="Database",
        squad=squad,
        form_schema=FORM,
        fulfilment=Fulfilment.MANUAL,
        runbook=None,
    )


@pytest.fixture
def engineer(squad):
    """A member of the owning squad who is neither product owner nor SME."""
    return MembershipFactory(user=UserFactory(username="eddie"), squad=squad, role=Role.ENGINEER).user


def drain_queued_tasks() -> list[tuple[str, list]]:
    """Take every message waiting on this test process's queue: (task, args)."""
    from django.conf import settings

    from portal.celery import app

    found = []
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue(settings.CELERY_TASK_DEFAULT_QUEUE)
        while True:
            try:
                message = queue.get(block=True, timeout=1)
            except queue.Empty:
                break
            found.append((message.headers["task"], message.payload[0]))
            message.ack()
        queue.close()
    return found
