"""My services and an instance's page: what a person sees, secrets dotted,
operations pre-filled from the attributes, ordering one; someone else's
instance is a 404 on every page, and a refused operation changes nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from portal.instances.choices import InstanceState
from portal.instances.models import ServiceInstance
from portal.instances.services import operation_order
from portal.orders.execution import order_start
from portal.orders.models import Order
from tests.factories import UserFactory
from tests.instances import create, play, play_started, reporting

pytestmark = pytest.mark.django_db


@pytest.fixture
def instance(database, requester):
    return create(
        database,
        requester,
        reported={
            "squadron": {
                "instance": {
                    "name": "orders-db",
                    "attributes": {"size_gb": 20, "admin_password": "Secret-123456"},
                    "links": [{"title": "Console", "url": "https://console.example.com/orders"}],
                }
            }
        },
    )


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_my_services_lists_what_i_own_with_state_expiry_and_cost(requester, instance, database):
    create(database, UserFactory(username="olga"), reported=reporting("olgas-db"))
    page = logged_in(requester).get("/instances/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "orders-db" in html and "olgas-db" not in html
    assert "badge-state-active" in html and "40.00" in html
    assert 'aria-current="page">My services' in html


def test_my_services_filters_by_state_and_product(requester, instance):
    client = logged_in(requester)
    assert "orders-db" not in client.get("/instances/?state=failed").content.decode()
    assert "orders-db" in client.get("/instances/?state=active&product=postgres").content.decode()
    assert client.get("/instances/?state=nonsense").status_code == 200


def test_my_services_shows_services_in_service_until_asked_for_the_decommissioned(
    requester, instance, database
):
    gone = create(database, requester, reported=reporting("retired-db"))
    ServiceInstance.objects.filter(pk=gone.pk).update(state=InstanceState.DECOMMISSIONED)
    client = logged_in(requester)
    html = client.get("/instances/").content.decode()
    assert "orders-db" in html and "retired-db" not in html
    # One click away, and named so: the select offers them.
    assert '<option value="all">' in html and '<option value="" selected>In service</option>' in html
    everything = client.get("/instances/?state=all").content.decode()
    assert "orders-db" in everything and "retired-db" in everything
    # The pager keeps the choice.
    assert "retired-db" in client.get("/instances/?state=decommissioned").content.decode()


def test_my_services_says_when_only_decommissioned_services_are_left(requester, instance):
    ServiceInstance.objects.filter(pk=instance.pk).update(state=InstanceState.DECOMMISSIONED)
    html = logged_in(requester).get("/instances/").content.decode()
    assert "orders-db" not in html
    assert "No service in service" not in html
    assert 'href="/instances/?state=all"' in html and "decommissioned" in html.lower()


@pytest.mark.parametrize(
    ("path", "fields"), [("/orders/", ["status"]), ("/instances/", ["product", "state"])]
)
def test_my_orders_and_my_services_filter_with_the_same_labelled_form(requester, database, path, fields):
    html = logged_in(requester).get(path).content.decode()
    opening = f'<form method="get" action="{path}" class="inline-filter" data-autosubmit>'
    assert html.count(opening) == 1
    form = html.split(opening)[1].split("</form>")[0]
    for name in fields:
        assert f'<label for="id_{name}">' in form and f'name="{name}"' in form
    assert form.count("<label") == len(fields)
    assert '<button type="submit" class="button">Filter</button>' in form


def test_squad_members_see_their_products_instances(member, instance):
    assert "orders-db" in logged_in(member).get("/instances/").content.decode()


def test_the_list_costs_the_same_queries_whatever_its_length(
    requester, instance, database, django_assert_max_num_queries
):
    client = logged_in(requester)
    client.get("/instances/")  # warm the session
    with django_assert_max_num_queries(12) as few:
        client.get("/instances/")
    for _ in range(4):
        create(database, requester)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get("/instances/")


def test_the_instance_page_shows_attributes_with_secrets_dotted_links_history_and_operations(
    requester, instance
):
    html = logged_in(requester).get(f"/instances/{instance.pk}/").content.decode()
    assert "Secret-123456" not in html and "••••••••" in html
    assert 'href="https://console.example.com/orders"' in html
    assert "Created by order" in html
    for slug in ("resize", "extend", "drop"):
        assert f'/instances/{instance.pk}/operations/{slug}/"' in html


def test_an_operation_form_is_prefilled_from_the_attributes_and_orders_it(requester, instance):
    client = logged_in(requester)
    form = client.get(f"/instances/{instance.pk}/operations/resize/").content.decode()
    assert 'name="inputs-size_gb"' in form and 'value="20"' in form
    response = client.post(f"/instances/{instance.pk}/operations/resize/", {"inputs-size_gb": "40"})
    order = Order.objects.get(operation__slug="resize")
    assert response.status_code == 302 and response["Location"] == f"/orders/{order.pk}/"
    assert order.inputs == {"size_gb": 40} and order.instance_id == instance.pk


def test_inputs_failing_the_form_are_shown_next_to_the_field_and_nothing_is_ordered(requester, instance):
    response = logged_in(requester).post(
        f"/instances/{instance.pk}/operations/resize/", {"inputs-size_gb": "5"}
    )
    assert response.status_code == 422
    assert "Must be at least 10." in response.content.decode()
    assert not Order.objects.filter(operation__isnull=False).exists()


def test_a_busy_instance_says_so_and_a_second_operation_changes_nothing(requester, instance):
    client = logged_in(requester)
    client.post(f"/instances/{instance.pk}/operations/extend/", {})
    running = Order.objects.get(operation__slug="extend")
    page = client.get(f"/instances/{instance.pk}/").content.decode()
    assert "An order is working on it" in page and f"order #{running.pk}" in page
    response = client.post(
        f"/instances/{instance.pk}/operations/resize/", {"inputs-size_gb": "40"}, follow=True
    )
    assert f"busy with order #{running.pk}" in response.content.decode()
    assert Order.objects.filter(operation__isnull=False).count() == 1


def test_a_decommissioned_instance_offers_nothing(requester, instance):
    client = logged_in(requester)
    client.post(f"/instances/{instance.pk}/operations/drop/", {})
    play(Order.objects.get(operation__slug="drop"))
    assert ServiceInstance.objects.get(pk=instance.pk).state == InstanceState.DECOMMISSIONED
    html = client.get(f"/instances/{instance.pk}/").content.decode()
    assert "No operation can be ordered for it now" in html
    response = client.post(
        f"/instances/{instance.pk}/operations/resize/", {"inputs-size_gb": "40"}, follow=True
    )
    assert "decommissioned" in response.content.decode()
    assert Order.objects.filter(operation__slug="resize").count() == 0


@pytest.mark.parametrize(
    "path", ["/instances/{id}/", "/instances/{id}/state/", "/instances/{id}/operations/resize/"]
)
def test_someone_elses_instance_is_a_404_on_every_page(outsider, other_member, instance, path):
    for stranger in (outsider, other_member):
        client = logged_in(stranger)
        assert client.get(path.format(id=instance.pk)).status_code == 404
        assert client.post(path.format(id=instance.pk), {"inputs-size_gb": "40"}).status_code in (404, 405)
    assert not Order.objects.filter(operation__isnull=False).exists()


def test_the_product_page_says_how_many_instances_exist(requester, instance, database):
    html = logged_in(requester).get(f"/products/{database.slug}/").content.decode()
    assert "1 in service" in html and "Resize" in html


def test_the_squad_dashboard_counts_active_instances_per_product(member, requester, instance, database):
    create(database, requester)
    failed_one = create(database, requester)
    ServiceInstance.objects.filter(pk=failed_one.pk).update(state=InstanceState.FAILED)
    html = logged_in(member).get(f"/squads/{database.squad.slug}/dashboard/").content.decode()
    assert "Services in use" in html
    row = html.split("<td>PostgreSQL database</td>")[1].split("</tr>")[0]
    assert '<td class="num">2</td>' in row and "80.00" in row


# --- Live state badges on My services ---------------------------------------------------


def row_of(html: str, instance: ServiceInstance) -> str:
    """The table row of ``instance`` on My services."""
    return html.split(f'href="/instances/{instance.pk}/"')[1].split("</tr>")[0]


def test_a_row_whose_instance_changes_polls_its_badge_and_a_settled_row_does_not(
    requester, instance, database
):
    settled = create(database, requester, reported=reporting("settled-db"))
    order = operation_order(actor=requester, instance=instance, operation="resize", inputs={"size_gb": 40})
    order_start(order_id=order.pk)
    assert ServiceInstance.objects.get(pk=instance.pk).state == InstanceState.UPDATING

    html = logged_in(requester).get("/instances/").content.decode()

    changing = row_of(html, instance)
    assert f'hx-get="/instances/{instance.pk}/state/?row=1"' in changing
    assert 'hx-trigger="every 2s"' in changing and "badge-state-updating badge-live" in changing
    assert "hx-get" not in row_of(html, settled) and "hx-trigger" not in row_of(html, settled)
    assert 'id="instance-state"' not in html, "the page's badge id is not repeated in rows"


def test_a_row_waiting_for_its_operation_to_start_does_not_poll(requester, instance):
    """Queued or waiting for approval (that may take days), the instance is
    still active: nothing to watch yet."""
    operation_order(actor=requester, instance=instance, operation="resize", inputs={"size_gb": 40})
    assert ServiceInstance.objects.get(pk=instance.pk).busy_with_id is not None
    html = logged_in(requester).get("/instances/").content.decode()
    assert "hx-get" not in row_of(html, instance) and "badge-state-active" in row_of(html, instance)


def test_a_rows_badge_polls_until_its_instance_settles_then_stops_without_reloading(requester, instance):
    client = logged_in(requester)
    order = operation_order(actor=requester, instance=instance, operation="resize", inputs={"size_gb": 40})
    order_start(order_id=order.pk)

    changing = client.get(f"/instances/{instance.pk}/state/?row=1")
    assert changing.status_code == 200
    assert f'hx-get="/instances/{instance.pk}/state/?row=1"' in changing.content.decode()
    assert "Updating" in changing.content.decode()

    play_started(Order.objects.get(pk=order.pk))
    settled = client.get(f"/instances/{instance.pk}/state/?row=1")
    body = settled.content.decode()
    assert "badge-state-active" in body and "hx-get" not in body and "hx-trigger" not in body
    assert 'id="instance-state"' not in body
    assert "HX-Refresh" not in settled, "a row's badge changes alone, the list is not reloaded"


def test_the_instance_pages_badge_still_reloads_the_page_once_settled(requester, instance):
    settled = logged_in(requester).get(f"/instances/{instance.pk}/state/?was=busy")
    assert settled["HX-Refresh"] == "true"
    assert 'id="instance-state"' in settled.content.decode()


def test_someone_elses_row_badge_is_a_404(outsider, other_member, requester, instance):
    order = operation_order(actor=requester, instance=instance, operation="resize", inputs={"size_gb": 40})
    order_start(order_id=order.pk)
    for stranger in (outsider, other_member):
        assert logged_in(stranger).get(f"/instances/{instance.pk}/state/?row=1").status_code == 404
    assert logged_in(requester).get(f"/instances/{instance.pk}/state/?row=1").status_code == 200
