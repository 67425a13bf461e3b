"""Forms that think, through the API and the pages alike: the product's
served form carries the live choices of whoever asks; a placement is
checked against them again (a choice that went away, someone else's
instance, a URL source that is down); what a condition hides is dropped
from the order's inputs."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache

from portal.instances.choices import InstanceState
from portal.instances.models import ServiceInstance
from portal.orders.models import Order
from tests.choices_server import choices_server
from tests.factories import ProductFactory, UserFactory

pytestmark = pytest.mark.django_db

APP_FORM = {
    "type": "object",
    "required": ["name", "database"],
    "properties": {
        "name": {"type": "string", "maxLength": 40},
        "database": {"type": "integer", "title": "Database", "x-choices-from": {"instances": "postgres"}},
        "tier": {"type": "string", "enum": ["development", "production"], "default": "development"},
        "replicas": {"type": "integer", "minimum": 1, "maximum": 5},
    },
    "if": {"properties": {"tier": {"const": "production"}}, "required": ["tier"]},
    "then": {"required": ["replicas"]},
}


@pytest.fixture
def app(squad, database):
    return ProductFactory(slug="app", name="Application", squad=squad, form_schema=APP_FORM)


@pytest.fixture
def mine(requester, database):
    return ServiceInstance.objects.create(
        product=database, owner=requester, name="billing", state=InstanceState.ACTIVE
    )


def place(client, inputs, product="app"):
    body = {"product": product, "inputs": inputs}
    return client.post("/api/v1/orders/", data=json.dumps(body), content_type="application/json")


def test_the_served_form_lists_my_instances_only(api_for, requester, app, mine, database):
    ServiceInstance.objects.create(
        product=database, owner=UserFactory(), name="theirs", state=InstanceState.ACTIVE
    )
    ServiceInstance.objects.create(
        product=database, owner=requester, name="old", state=InstanceState.DECOMMISSIONED
    )
    spec = api_for(requester).get("/api/v1/products/app/").json()["form_schema"]["properties"]["database"]
    assert spec["enum"] == [mine.pk]
    assert spec["x-choice-labels"] == [f"billing (#{mine.pk})"]
    assert spec["x-choices-from"] == {"instances": "postgres"}


def test_an_order_picks_my_instance_and_drops_what_a_condition_hides(api_for, requester, app, mine):
    response = place(api_for(requester), {"name": "web", "database": mine.pk, "replicas": 3})
    assert response.status_code == 201, response.content
    assert Order.objects.get().inputs == {"name": "web", "database": mine.pk, "tier": "development"}


def test_a_production_order_needs_its_replicas(api_for, requester, app, mine):
    response = place(api_for(requester), {"name": "web", "database": mine.pk, "tier": "production"})
    assert response.status_code == 400
    assert response.json()["errors"]["inputs"] == {"replicas": ["This field is required."]}
    assert not Order.objects.exists()


def test_someone_elses_instance_or_one_gone_is_a_field_error(api_for, requester, app, mine, database):
    theirs = ServiceInstance.objects.create(
        product=database, owner=UserFactory(), name="theirs", state=InstanceState.ACTIVE
    )
    client = api_for(requester)
    for wanted in (theirs.pk, mine.pk):
        if wanted == mine.pk:
            ServiceInstance.objects.filter(pk=mine.pk).update(state=InstanceState.DECOMMISSIONED)
        response = place(client, {"name": "web", "database": wanted})
        assert response.status_code == 400
        assert response.json()["errors"]["inputs"] == {
            "database": ["This choice is not available (any more): choose one of the current options."]
        }
    assert not Order.objects.exists()


def test_the_order_page_refuses_a_choice_that_went_away(client, requester, app, mine):
    client.force_login(requester)
    page = client.get("/products/app/").content.decode()
    assert f'<option value="{mine.pk}">billing (#{mine.pk})</option>' in page
    ServiceInstance.objects.filter(pk=mine.pk).update(state=InstanceState.DECOMMISSIONED)
    response = client.post("/products/app/order/", {"inputs-name": "web", "inputs-database": str(mine.pk)})
    assert response.status_code == 422
    assert (
        "Select a valid choice" in response.content.decode() or "not available" in response.content.decode()
    )
    assert not Order.objects.exists()


def test_a_url_source_that_is_down_stops_the_order(settings, api_for, client, requester, squad):
    settings.SQUADRON_CHOICES_URL_HOSTS = ["127.0.0.1"]
    settings.SQUADRON_WEBHOOK_ALLOW_PRIVATE = True
    cache.clear()
    with choices_server() as server:
        form = {
            "type": "object",
            "required": ["zone"],
            "properties": {"zone": {"type": "string", "x-choices-from": {"url": server.url("/down")}}},
        }
        ProductFactory(slug="rule", squad=squad, form_schema=form)
        response = place(api_for(requester), {"zone": "dmz"}, product="rule")
        client.force_login(requester)
        page = client.get("/products/rule/").content.decode()
    assert response.status_code == 400
    message = response.json()["errors"]["inputs"]["zone"][0]
    assert "could not be loaded" in message and "cannot be placed" in message
    assert "The choices could not be loaded: the source answered HTTP 503." in page
    assert not Order.objects.exists()
