"""An instance's page says what depends on it and what it depends on:
instances the viewer may see by name and link, the others only counted per
product; decommissioned dependents drop out; ordering its delete warns of
what still depends on it."""

from __future__ import annotations

import pytest
from django.test import Client

from portal.instances.services import operation_order
from tests.instances import create, create_app, make_app, play

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def section(html: str, heading: str) -> str:
    """The part of the Dependencies card under ``heading``."""
    part = html.split(f">{heading}</h3>")[1]
    return part.split("<h3")[0].split("</section>")[0]


@pytest.fixture
def app(other_squad):
    return make_app(other_squad)


@pytest.fixture
def orders_db(database, requester):
    return create(database, requester)


@pytest.fixture
def noras_app(app, member, orders_db):
    """Nora, of the database's squad, runs an application server of another
    squad's product on Rita's database: Rita may not see it."""
    return create_app(app, member, orders_db.pk, name="noras-app")


def test_the_owner_sees_a_dependent_they_may_not_see_only_as_a_count(requester, orders_db, noras_app):
    html = logged_in(requester).get(f"/instances/{orders_db.pk}/").content.decode()
    dependents = section(html, "What depends on it")
    assert "1 Application server instance you cannot see" in dependents
    assert "noras-app" not in html and f"/instances/{noras_app.pk}/" not in html
    assert "Its runbooks reported no dependency." in section(html, "What it depends on")


def test_a_viewer_who_may_see_the_dependent_gets_its_name_link_and_state(member, orders_db, noras_app):
    html = logged_in(member).get(f"/instances/{orders_db.pk}/").content.decode()
    dependents = section(html, "What depends on it")
    assert f'<a href="/instances/{noras_app.pk}/">noras-app</a>' in dependents
    assert "Application server" in dependents and "badge-state-active" in dependents
    assert "cannot see" not in dependents


def test_what_it_depends_on_is_linked_or_counted_alike(member, other_member, orders_db, noras_app):
    as_nora = section(
        logged_in(member).get(f"/instances/{noras_app.pk}/").content.decode(), "What it depends on"
    )
    assert f'<a href="/instances/{orders_db.pk}/">orders-db</a>' in as_nora
    as_otto = logged_in(other_member).get(f"/instances/{noras_app.pk}/").content.decode()
    assert "1 PostgreSQL database instance you cannot see" in section(as_otto, "What it depends on")
    assert "orders-db" not in as_otto and f"/instances/{orders_db.pk}/" not in as_otto


def test_a_decommissioned_dependent_drops_out(requester, member, orders_db, noras_app):
    play(operation_order(actor=member, instance=noras_app, operation="retire", inputs={}))
    html = logged_in(requester).get(f"/instances/{orders_db.pk}/").content.decode()
    assert "Nothing in service depends on it." in section(html, "What depends on it")
    assert "cannot see" not in html


def test_the_delete_form_warns_of_what_still_depends_on_the_instance(requester, orders_db, noras_app):
    client = logged_in(requester)
    page = client.get(f"/instances/{orders_db.pk}/operations/drop/").content.decode()
    assert "1 service depends on orders-db" in page
    assert "1 Application server instance you cannot see" in page and "noras-app" not in page
    resize = client.get(f"/instances/{orders_db.pk}/operations/resize/").content.decode()
    assert "depends on orders-db" not in resize, "only a delete warns"


def test_the_delete_form_does_not_warn_once_nothing_depends_on_it(requester, member, orders_db, noras_app):
    play(operation_order(actor=member, instance=noras_app, operation="retire", inputs={}))
    page = logged_in(requester).get(f"/instances/{orders_db.pk}/operations/drop/").content.decode()
    assert "depends on orders-db" not in page and "notice-warning" not in page


def test_the_page_costs_the_same_queries_however_many_depend_on_it(
    app, member, orders_db, noras_app, django_assert_max_num_queries
):
    client = logged_in(member)
    client.get(f"/instances/{orders_db.pk}/")
    with django_assert_max_num_queries(40) as few:
        client.get(f"/instances/{orders_db.pk}/")
    for number in range(3):
        create_app(app, member, orders_db.pk, name=f"app-{number}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = client.get(f"/instances/{orders_db.pk}/").content.decode()
    assert all(f">app-{number}</a>" in html for number in range(3))
