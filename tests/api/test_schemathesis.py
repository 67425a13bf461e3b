"""Schemathesis fuzzes every operation of the live schema (/api/schema/),
authenticated with a real token, with valid and invalid data: no answer may
be a 5xx or differ from what the schema promises (status code, content
type, headers, body)."""

from __future__ import annotations

import pytest
import schemathesis
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from catalogue.choices import ApprovalPolicy, Fulfilment
from portal.integrations.tokens import token_create
from portal.integrations.webhooks.subscriptions import webhook_ping, webhook_subscribe
from portal.orders.submission import order_submit
from squads.choices import Role
from tests.conftest import FORM
from tests.factories import MembershipFactory, ProductFactory, RunbookFactory, UserFactory

#: Examples per operation: enough to find the classic mistakes (types, NUL,
#: huge numbers, missing fields), few enough to run in about a minute.
EXAMPLES = 60
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
UNTHROTTLED = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": None, "user": None}}


@pytest.fixture
def world(db, squad):
    """A squad member with orders in every interesting state, so generated
    ids and slugs sometimes hit real objects."""
    user = MembershipFactory(user=UserFactory(username="fuzzer"), squad=squad, role=Role.PRODUCT_OWNER).user
    requester = UserFactory(username="asker")
    RunbookFactory(slug="create-vlan", squad=squad)
    automated = ProductFactory(slug="vm", squad=squad, form_schema=FORM)
    approval = ProductFactory(slug="fw", squad=squad, form_schema=FORM, approval_policy=ApprovalPolicy.SQUAD)
    manual = ProductFactory(
        slug="db", squad=squad, form_schema=FORM, fulfilment=Fulfilment.MANUAL, runbook=None
    )
    orders = [
        order_submit(requester=requester, product=product, inputs={"hostname": "web-01"})
        for product in (automated, approval, manual)
    ]
    subscription, _ = webhook_subscribe(actor=user, url="https://hooks.example.com/in", squad=squad)
    delivery = webhook_ping(subscription=subscription, actor=user)
    return {
        "key": token_create(user=user, name="fuzz").key,
        "ids": [order.pk for order in orders] + [subscription.pk],
        "slugs": ["vm", "network", "create-vlan"],
        "delivery": str(delivery.delivery_id),
    }


@pytest.fixture
def api_schema(world):
    # The real WSGI handler closes the database connection after each
    # request; in a test that would end the test's transaction. Django's
    # test client disconnects the same signal handler for the same reason.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        with override_settings(REST_FRAMEWORK=UNTHROTTLED):
            yield schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.slow
@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_its_schema_says(case, world):
    # Half the generated ids and slugs are swapped for real ones, so that
    # operations on existing objects are exercised, not only 404s.
    for name, value in list((case.path_parameters or {}).items()):
        if name in ("id", "pk") and isinstance(value, int) and value % 2 == 0:
            case.path_parameters[name] = world["ids"][value % len(world["ids"])]
        elif name == "slug" and len(str(value)) % 2 == 0:
            case.path_parameters[name] = world["slugs"][len(str(value)) % len(world["slugs"])]
        elif name == "delivery_id" and len(str(value)) % 2 == 0:
            case.path_parameters[name] = world["delivery"]
    with override_settings(REST_FRAMEWORK=UNTHROTTLED):
        response = case.call(headers={"Authorization": f"Token {world['key']}"})
    case.validate_response(response, checks=CHECKS)
