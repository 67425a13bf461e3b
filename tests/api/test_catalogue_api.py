"""Products, squads and runbooks through the API: what a client needs to
build an order, with queries that do not grow with the page."""

from __future__ import annotations

import pytest

from catalogue.choices import ProductStatus
from squads.choices import Role
from tests.factories import CategoryFactory, MembershipFactory, ProductFactory, RunbookFactory, SquadFactory

pytestmark = pytest.mark.django_db


def test_products_list_only_published_products_with_owner_and_terms(api_for, outsider, product, squad):
    ProductFactory(slug="draft-thing", squad=squad, status=ProductStatus.DRAFT)
    ProductFactory(slug="old-thing", squad=squad, status=ProductStatus.RETIRED)
    response = api_for(outsider).get("/api/v1/products/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    item = body["results"][0]
    assert item["slug"] == "vm" and item["url"] == "http://testserver/api/v1/products/vm/"
    assert item["squad"] == {"slug": "network", "name": "Network Squad"}
    assert {"fulfilment", "approval_policy", "sla_minutes", "category", "version"} <= item.keys()
    assert "form_schema" not in item


def test_product_detail_carries_the_form_schema_and_dependencies(api_for, outsider, product, squad):
    dependency = ProductFactory(slug="ip-block", squad=squad)
    product.depends_on.add(dependency)
    body = api_for(outsider).get("/api/v1/products/vm/").json()
    assert body["form_schema"] == product.form_schema
    assert body["depends_on"] == ["ip-block"]
    assert body["description"] == product.description


def test_unpublished_and_unknown_products_are_a_404(api_for, outsider, squad):
    ProductFactory(slug="draft-thing", squad=squad, status=ProductStatus.DRAFT)
    for slug in ("draft-thing", "nothing-here"):
        response = api_for(outsider).get(f"/api/v1/products/{slug}/")
        assert response.status_code == 404
        assert response.json() == {"detail": "No such product.", "code": "not_found"}


def test_products_filter_by_squad_and_category_and_order_by_name(api_for, outsider, squad, other_squad):
    network = CategoryFactory(slug="network")
    ProductFactory(slug="b-vlan", name="B", squad=squad, category=network)
    ProductFactory(slug="a-vm", name="A", squad=other_squad)
    client = api_for(outsider)

    def slugs(query):
        return [p["slug"] for p in client.get("/api/v1/products/" + query).json()["results"]]

    assert slugs("?squad=network") == ["b-vlan"]
    assert slugs("?category=network") == ["b-vlan"]
    assert slugs("?ordering=name") == ["a-vm", "b-vlan"]
    assert slugs("?ordering=-name") == ["b-vlan", "a-vm"]
    assert client.get("/api/v1/products/?fulfilment=robotic").status_code == 400


@pytest.mark.parametrize("path", ["/api/v1/products/", "/api/v1/squads/", "/api/v1/runbooks/"])
def test_catalogue_lists_cost_the_same_queries_whatever_the_page_size(
    api_for, outsider, path, django_assert_max_num_queries
):
    for n in range(12):
        squad = SquadFactory(slug=f"squad-{n}")
        MembershipFactory(squad=squad, role=Role.SME)
        MembershipFactory(squad=squad)
        product = ProductFactory(slug=f"product-{n}", squad=squad, category=CategoryFactory(slug=f"c{n}"))
        product.depends_on.add(ProductFactory(slug=f"dep-{n}", squad=squad))
    client = api_for(outsider)
    client.get("/api/v1/me/")  # the token's first use records last_used_at, once
    for size in (1, 12):
        # token lookup, COUNT, page (+ one prefetch for squads' members, or
        # the two of the catalogue's fingerprint for products)
        with django_assert_max_num_queries(5 if "products" in path else 4):
            response = client.get(f"{path}?page_size={size}")
        assert len(response.json()["results"]) == size


def test_squads_list_their_members_and_roles(api_for, outsider, member, squad):
    body = api_for(outsider).get("/api/v1/squads/network/").json()
    assert body["members"] == [{"username": "nora", "role": "product_owner"}]
    assert body["mission"] == squad.mission


def test_runbooks_show_their_current_version_but_not_the_playbook(api_for, outsider, squad):
    runbook = RunbookFactory(slug="create-vlan", squad=squad)
    body = api_for(outsider).get("/api/v1/runbooks/?squad=network").json()
    assert body["count"] == 1
    item = body["results"][0]
    assert item["current_version"]["number"] == 1
    assert item["current_version"]["checksum"] == runbook.current_version.checksum
    assert "playbook" not in item and "content" not in str(item)


def test_a_cached_catalogue_page_follows_every_change_it_shows(api_for, outsider, product, squad):
    from catalogue.services import product_changed, product_retire

    client = api_for(outsider)

    def names():
        return [
            (p["name"], p["squad"]["name"], p["category"]["name"])
            for p in client.get("/api/v1/products/").json()["results"]
        ]

    assert names() == [("Virtual machine", "Network Squad", product.category.name)]
    product.name = "Virtual server"
    product.save()
    assert names()[0][0] == "Virtual server"
    squad.name = "Networking"
    squad.save()
    assert names()[0][1] == "Networking"
    product.category.name = "Compute"
    product.category.save()
    assert names()[0][2] == "Compute"
    ProductFactory(slug="new-one", squad=squad)
    assert len(names()) == 2
    version = client.get("/api/v1/products/").json()["results"][-1]["version"]
    product_changed(product=product)
    assert client.get("/api/v1/products/").json()["results"][-1]["version"] == version + 1
    product_retire(product=product)
    assert len(names()) == 1
