"""Business units and quotas on the pages: the order form's choice of a
unit (only for a member of several), the review naming it, quota refusals
said on the product page with nothing placed, over-quota orders showing
their excess to approvers, and usage shown to a unit's members and to the
owning squad only."""

from __future__ import annotations

import re

import pytest

from catalogue.choices import OverQuota
from portal.consumption.services import business_unit_add_members
from portal.orders.choices import OrderStatus
from portal.orders.models import Order
from tests.consumption import count_quota, total_quota
from tests.instances import create

pytestmark = pytest.mark.django_db

FORM = {"inputs-db_name": "ledger", "inputs-size_gb": "20", "inputs-admin_password": "correct-horse-battery"}


@pytest.fixture
def rita(client, requester):
    client.force_login(requester)
    return client


def review(client, **extra):
    return client.post("/products/postgres/order/", {**FORM, **extra})


def place(client, response):
    token = re.search(r'name="review" value="([^"]+)"', response.content.decode()).group(1)
    return client.post("/products/postgres/order/", {"step": "confirm", "review": token}, follow=True)


def test_a_member_of_one_unit_sees_it_named_and_orders_for_it(rita, database, finance):
    page = rita.get("/products/postgres/").content.decode()
    assert "Ordered for <strong>Finance</strong>" in page and 'name="business_unit"' not in page
    reviewed = review(rita)
    assert "For <strong>Finance</strong>" in reviewed.content.decode()
    place(rita, reviewed)
    assert Order.objects.get().business_unit == finance


def test_a_member_of_several_must_choose_and_the_choice_survives_review_and_edit(
    rita, requester, database, finance, logistics
):
    business_unit_add_members(unit=logistics, users=[requester])
    page = rita.get("/products/postgres/").content.decode()
    assert '<select name="business_unit"' in page
    assert '<option value="finance">Finance</option>' in page and "Logistics" in page
    missing = review(rita)
    assert missing.status_code == 422
    html = missing.content.decode()
    assert "Business unit: You belong to several business units" in html
    assert 'id="id_business_unit_error"' in html
    assert not Order.objects.exists()
    reviewed = review(rita, business_unit="logistics")
    assert "For <strong>Logistics</strong>" in reviewed.content.decode()
    token = re.search(r'name="review" value="([^"]+)"', reviewed.content.decode()).group(1)
    edit = rita.post("/products/postgres/order/", {"step": "edit", "review": token}).content.decode()
    assert '<option value="logistics" selected>Logistics</option>' in edit
    place(rita, reviewed)
    assert Order.objects.get().business_unit == logistics


def test_a_forged_unit_is_refused_on_review(rita, database, finance, logistics):
    response = review(rita, business_unit="logistics")
    assert response.status_code == 422
    assert "You are not a member of a business unit &#x27;logistics&#x27;." in response.content.decode()
    assert not Order.objects.exists()


def test_an_order_over_quota_is_refused_with_the_quota_named_and_nothing_placed(
    rita, requester, database, finance
):
    count_quota(finance, database, 1)
    create(database, requester)
    before = Order.objects.count()
    response = place(rita, review(rita))
    assert response.redirect_chain[-1][0] == "/products/postgres/"
    html = response.content.decode()
    assert (
        "Finance&#x27;s quota for PostgreSQL database is 1 instances, and 1 are in use or on order: "
        "this order would make 2 (1 over)." in html
    )
    assert Order.objects.count() == before


def test_an_over_quota_order_shows_its_excess_to_the_requester_and_the_approver(
    rita, client, requester, member, database, finance
):
    database.over_quota = OverQuota.APPROVAL
    database.save()
    total_quota(finance, database, "size_gb", 10)
    response = place(rita, review(rita))
    html = response.content.decode()
    assert "it is over its business unit&#x27;s quota, so it waits for approval" in html
    order = Order.objects.get()
    assert order.status == OrderStatus.PENDING_APPROVAL
    client.force_login(member)
    page = client.get(f"/orders/{order.pk}/").content.decode()
    assert "Over quota:</strong> Finance&#x27;s quota for PostgreSQL database is 10 size_gb in total" in page
    assert "Business unit</dt><dd>Finance" in page


def test_usage_is_shown_to_the_unit_members_and_the_owning_squad_only(
    client, requester, member, other_member, outsider, database, finance
):
    count_quota(finance, database, 3)
    total_quota(finance, database, "size_gb", 100)
    create(database, requester, size_gb=30)
    client.force_login(requester)
    services = client.get("/instances/").content.decode()
    assert "Quotas of your business units" in services
    assert "1 of 3" in services and "30 of 100" in services
    assert "Your quotas" in client.get("/products/postgres/").content.decode()
    client.force_login(member)  # of the squad that owns the product
    assert "Business units' quotas on your squads' products" in client.get("/instances/").content.decode()
    product_page = client.get("/products/postgres/").content.decode()
    assert "Business units' quotas" in product_page and "30 of 100" in product_page
    for stranger in (other_member, outsider):
        client.force_login(stranger)
        assert "30 of 100" not in client.get("/instances/").content.decode()
        assert "30 of 100" not in client.get("/products/postgres/").content.decode()


def test_an_instance_page_names_its_unit(client, requester, database, finance):
    instance = create(database, requester)
    client.force_login(requester)
    page = client.get(f"/instances/{instance.pk}/").content.decode()
    assert "Business unit</dt><dd>Finance" in page and "CC-100" in page
