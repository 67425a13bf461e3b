"""The catalogue's pages: what a business user finds, and what they never see."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from catalogue.choices import ApprovalPolicy, ProductStatus
from portal.orders.choices import OrderStatus
from portal.orders.models import Order
from squads.choices import Role
from tests.factories import CategoryFactory, MembershipFactory, ProductFactory, SquadFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shelves(squad, other_squad):
    network = CategoryFactory(slug="network", name="Network", position=1)
    compute = CategoryFactory(slug="compute", name="Compute", position=2)
    return {
        "vlan": ProductFactory(
            slug="vlan", name="New VLAN", category=network, squad=squad, summary="A VLAN on the campus fabric"
        ),
        "dns": ProductFactory(
            slug="dns", name="DNS record", category=network, squad=squad, tags="naming, zone"
        ),
        "vm": ProductFactory(
            slug="vm",
            name="Virtual machine",
            category=compute,
            squad=other_squad,
            approval_policy=ApprovalPolicy.SQUAD,
            sla_minutes=120,
        ),
        "draft": ProductFactory(
            slug="draft-vlan", name="Draft VLAN", category=network, squad=squad, status=ProductStatus.DRAFT
        ),
        "retired": ProductFactory(
            slug="old-vlan", name="Old VLAN", category=network, squad=squad, status=ProductStatus.RETIRED
        ),
    }


@pytest.fixture
def bea_client(client, requester):
    client.force_login(requester)
    return client


def test_pages_need_a_login(client, shelves):
    for url in ["/", "/products/vlan/", "/orders/", "/approvals/", "/queue/"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_home_shows_published_products_by_category_with_their_facts(bea_client, shelves):
    html = bea_client.get("/").content.decode()
    results = html[html.index('id="results"') :]
    assert (
        results.index(">Network</h2>")
        < results.index("New VLAN")
        < results.index(">Compute</h2>")
        < results.index("Virtual machine")
    )
    assert "Network Squad" in html and "Compute Squad" in html
    assert "SLA 2 h" in html and "Approval needed" in html and "No approval" in html
    assert "Draft VLAN" not in html and "Old VLAN" not in html


def test_search_forgives_a_typo_and_never_finds_drafts_or_retired_products(bea_client, shelves):
    html = bea_client.get("/", {"q": "vlna"}).content.decode()
    assert "New VLAN" in html
    assert "1 result for “vlna”" in html
    assert "Draft VLAN" not in html and "Old VLAN" not in html
    assert "DNS record" in bea_client.get("/", {"q": "zone"}).content.decode()  # by tag


def test_filters_by_category_and_squad(bea_client, shelves):
    html = bea_client.get("/", {"category": "compute"}).content.decode()
    assert "Virtual machine" in html and "New VLAN" not in html
    html = bea_client.get("/", {"squad": "network"}).content.decode()
    assert "New VLAN" in html and "DNS record" in html and "Virtual machine" not in html
    html = bea_client.get("/", {"squad": "network", "q": "dns"}).content.decode()
    assert "DNS record" in html and "New VLAN" not in html


def test_an_unknown_filter_value_is_ignored_rather_than_an_error(bea_client, shelves):
    response = bea_client.get("/", {"category": "nope", "q": "vlan"})
    assert response.status_code == 200
    assert "New VLAN" in response.content.decode()


def test_live_search_answers_htmx_with_the_results_only(bea_client, shelves):
    response = bea_client.get("/", {"q": "machine"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="results"')
    assert "Virtual machine" in html and "<html" not in html
    assert "HX-Request" in response["Vary"]


def test_a_long_category_shows_a_shelf_and_a_link_to_all_of_it(bea_client, squad):
    category = CategoryFactory(slug="big", name="Big")
    for number in range(12):
        ProductFactory(slug=f"item-{number:02}", name=f"Item {number:02}", category=category, squad=squad)
    html = bea_client.get("/").content.decode()
    assert html.count('class="card product-card"') == 8
    assert "All 12 Big products" in html
    html = bea_client.get("/", {"category": "big"}).content.decode()
    assert html.count('class="card product-card"') == 12


def test_catalogue_home_costs_the_same_queries_for_many_products(
    bea_client, squad, django_assert_max_num_queries
):
    category = CategoryFactory(slug="many", name="Many")
    ProductFactory(slug="first", category=category, squad=squad)
    # Session, user, memberships, the catalogue, the unread badge, the insights link.
    with django_assert_max_num_queries(6) as few:
        bea_client.get("/")
    for number in range(40):
        ProductFactory(
            slug=f"more-{number}", category=CategoryFactory(slug=f"c{number % 7}"), squad=SquadFactory()
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        bea_client.get("/")
    with django_assert_max_num_queries(len(few.captured_queries)):
        bea_client.get("/", {"q": "more"})


# --- Product page ---------------------------------------------------------------------------


def test_product_page_shows_owner_sla_dependencies_and_the_form(bea_client, shelves, squad):
    owner = UserFactory(username="nadia", first_name="Nadia", last_name="Owens")
    MembershipFactory(user=owner, squad=squad, role=Role.PRODUCT_OWNER)
    shelves["vlan"].depends_on.add(shelves["vm"])
    html = bea_client.get("/products/vlan/").content.decode()
    assert "<h1>New VLAN</h1>" in html
    assert "Nadia Owens" in html
    assert "Network Squad" in html
    assert "Virtual machine" in html and "owned by the Compute Squad" in html
    assert 'name="inputs-name"' in html
    assert "No finished order yet" in html


def test_product_description_is_rendered_sanitized(bea_client, shelves):
    product = shelves["vlan"]
    product.description = (
        "**Bold** <script>alert(1)</script> <img src=x onerror=alert(2)> "
        "[click](javascript:alert(3)) <a href='/x' onclick='alert(4)'>x</a>"
    )
    product.save()
    html = bea_client.get("/products/vlan/").content.decode()
    assert "<strong>Bold</strong>" in html
    for forbidden in ("<script>alert", "onerror", "javascript:", "onclick"):
        assert forbidden not in html


def test_draft_and_retired_products_have_no_page(bea_client, shelves):
    assert bea_client.get("/products/draft-vlan/").status_code == 404
    assert bea_client.get("/products/old-vlan/").status_code == 404
    assert bea_client.get("/products/nope/").status_code == 404


def test_expected_lead_time_is_the_median_of_recent_succeeded_orders(bea_client, shelves, requester):
    product = shelves["vlan"]
    now = timezone.now()
    for minutes, status in [
        (2, OrderStatus.SUCCEEDED),
        (4, OrderStatus.SUCCEEDED),
        (60, OrderStatus.SUCCEEDED),
        (500, OrderStatus.FAILED),
    ]:
        order = Order.objects.create(
            requester=requester,
            product=product,
            product_version=1,
            squad=product.squad,
            fulfilment="automated",
            approval_policy="none",
            status=status,
            finished_at=now,
        )
        Order.objects.filter(pk=order.pk).update(created_at=now - timedelta(minutes=minutes))
    html = bea_client.get("/products/vlan/").content.decode()
    assert "4 min" in html
    assert "median of 3 orders in the last 90 days" in html


def test_product_page_costs_the_same_queries_however_many_orders_exist(
    bea_client, shelves, requester, django_assert_max_num_queries
):
    product = shelves["vlan"]

    def succeeded_orders(count: int) -> None:
        for _ in range(count):
            Order.objects.create(
                requester=requester,
                product=product,
                product_version=1,
                squad=product.squad,
                fulfilment="automated",
                approval_policy="none",
                status=OrderStatus.SUCCEEDED,
                finished_at=timezone.now(),
            )

    # Some orders and a dependency first: a product without history or
    # dependencies skips the lead-time figures and the upstream checks.
    succeeded_orders(5)
    product.depends_on.add(shelves["dns"])
    # 17: the person's business units (the order form's choice) is one.
    with django_assert_max_num_queries(17) as few:
        bea_client.get("/products/vlan/")
    succeeded_orders(30)
    product.depends_on.add(shelves["vm"])
    with django_assert_max_num_queries(len(few.captured_queries)):
        bea_client.get("/products/vlan/")
