"""Who may curate products and categories in the admin: ownership decides,
through real requests, for a member of the owning squad, a member of another
squad, an outsider, a superuser and an anonymous visitor. Every refused attempt
asserts that the database is unchanged, not only the status code."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from catalogue.choices import ProductStatus
from catalogue.models import Category, Product
from runbooks.models import Runbook
from squads.models import Squad
from tests.admin_forms import (
    CURATORS,
    admin_url,
    assert_refused,
    assert_sent_to_login,
    changelist_objects,
    field_errors,
    product_data,
    snapshot,
)
from tests.factories import ProductFactory, RunbookFactory


@pytest.fixture
def other_product(other_squad: Squad, other_runbook: Runbook, category: Category) -> Product:
    return ProductFactory(
        squad=other_squad, runbook=other_runbook, category=category, slug="vm", name="New VM"
    )


# --- The permission matrix ------------------------------------------------------


def test_product_changelist_shows_only_what_the_role_may_curate(
    client: Client, role: str, product: Product, other_product: Product
) -> None:
    response = client.get(admin_url(Product, "changelist"))

    if role in ("anonymous", "outsider"):
        assert_sent_to_login(response)
        return
    assert response.status_code == 200
    shown = changelist_objects(response)
    assert (product in shown) == (role in CURATORS)
    assert (other_product in shown) == (role in ("other_member", "admin_user"))


def test_product_change_page_opens_only_for_curators(client: Client, role: str, product: Product) -> None:
    response = client.get(admin_url(Product, "change", product.pk))

    if role in CURATORS:
        assert response.status_code == 200
        assert response.context["has_change_permission"]
    else:
        assert_refused(response, role)


def test_product_change_post_saves_only_for_curators(client: Client, role: str, product: Product) -> None:
    before = snapshot(product)

    response = client.post(admin_url(Product, "change", product.pk), product_data(product, name="Renamed"))

    if role in CURATORS:
        assert response.status_code == 302, response.context["adminform"].form.errors
        assert Product.objects.get(pk=product.pk).name == "Renamed"
    else:
        assert_refused(response, role)
        assert snapshot(product) == before


def test_product_delete_only_for_curators(client: Client, role: str, product: Product) -> None:
    before = snapshot(product)

    response = client.post(admin_url(Product, "delete", product.pk), {"post": "yes"})

    if role in CURATORS:
        assert response.status_code == 302
        assert not Product.objects.filter(pk=product.pk).exists()
    else:
        assert_refused(response, role)
        assert snapshot(product) == before


def test_publish_action_with_forged_selection_changes_nothing_for_non_curators(
    client: Client, role: str, product: Product
) -> None:
    before = snapshot(product)

    response = client.post(
        admin_url(Product, "changelist"),
        {"action": "publish_selected", "_selected_action": [product.pk], "index": "0", "confirmed": "yes"},
    )

    if role in CURATORS:
        assert Product.objects.get(pk=product.pk).status == ProductStatus.PUBLISHED
    else:
        if role in ("anonymous", "outsider"):
            assert_sent_to_login(response)
        assert snapshot(product) == before


# --- Forged forms ---------------------------------------------------------------


def test_member_cannot_assign_product_to_foreign_squad(
    client: Client, member: Any, product: Product, other_squad: Squad
) -> None:
    client.force_login(member)
    before = snapshot(product)

    response = client.post(
        admin_url(Product, "change", product.pk), product_data(product, squad=other_squad.pk)
    )

    assert response.status_code == 200
    assert "Select a valid choice" in field_errors(response, "squad")
    assert snapshot(product) == before


def test_member_cannot_add_product_to_foreign_squad(
    client: Client, member: Any, product: Product, other_squad: Squad
) -> None:
    client.force_login(member)
    data = product_data(product, slug="sneaky", name="Sneaky", squad=other_squad.pk, runbook="")
    count = Product.objects.count()

    response = client.post(admin_url(Product, "add"), data)

    assert response.status_code == 200
    assert "squad" in response.context["adminform"].form.errors
    assert Product.objects.count() == count
    assert not Product.objects.filter(slug="sneaky").exists()


def test_member_cannot_pick_another_squads_runbook_for_own_product(
    client: Client, member: Any, product: Product, other_runbook: Runbook
) -> None:
    client.force_login(member)
    before = snapshot(product)

    response = client.post(
        admin_url(Product, "change", product.pk), product_data(product, runbook=other_runbook.pk)
    )

    assert response.status_code == 200
    assert "Select a valid choice" in field_errors(response, "runbook")
    assert snapshot(product) == before


def test_member_of_two_squads_cannot_run_a_product_on_the_other_squads_runbook(
    client: Client, two_squad_member: Any, product: Product, other_runbook: Runbook
) -> None:
    # Both runbooks are offered to this user, so the model rule must refuse.
    client.force_login(two_squad_member)
    before = snapshot(product)

    response = client.post(
        admin_url(Product, "change", product.pk), product_data(product, runbook=other_runbook.pk)
    )

    assert response.status_code == 200
    assert "belongs to another squad" in field_errors(response, "runbook")
    assert snapshot(product) == before


def test_member_is_offered_only_own_squads_and_runbooks(
    client: Client, member: Any, product: Product, other_runbook: Runbook, squad: Squad
) -> None:
    client.force_login(member)

    response = client.get(admin_url(Product, "add"))

    form = response.context["adminform"].form
    assert list(form.fields["squad"].queryset) == [squad]
    assert list(form.fields["runbook"].queryset) == [product.runbook]
    # The only squad is preselected.
    assert form.initial["squad"] == squad.pk


def test_member_may_depend_on_another_squads_product(
    client: Client, member: Any, product: Product, other_product: Product
) -> None:
    client.force_login(member)

    response = client.post(
        admin_url(Product, "change", product.pk), product_data(product, depends_on=[other_product.pk])
    )

    assert response.status_code == 302
    assert list(Product.objects.get(pk=product.pk).depends_on.all()) == [other_product]


# --- Categories and the cost of the list page ------------------------------------


def test_member_views_categories_but_cannot_change_them(
    client: Client, member: Any, category: Category
) -> None:
    client.force_login(member)
    before = snapshot(category)
    count = Category.objects.count()

    viewed = client.get(admin_url(Category, "change", category.pk))
    changed = client.post(admin_url(Category, "change", category.pk), {"name": "Mine", "slug": "mine"})
    added = client.post(admin_url(Category, "add"), {"name": "Mine", "slug": "mine", "position": 0})
    deleted = client.post(admin_url(Category, "delete", category.pk), {"post": "yes"})

    assert viewed.status_code == 200
    assert (changed.status_code, added.status_code, deleted.status_code) == (403, 403, 403)
    assert snapshot(category) == before
    assert Category.objects.count() == count


def test_product_changelist_query_count_does_not_grow_with_products(
    client: Client, member: Any, squad: Squad, category: Category, django_assert_max_num_queries: Any
) -> None:
    runbook = RunbookFactory(squad=squad)
    for number in range(15):
        ProductFactory(squad=squad, category=category, runbook=runbook, slug=f"p-{number}")
    client.force_login(member)

    with django_assert_max_num_queries(12):
        response = client.get(admin_url(Product, "changelist"))

    assert len(changelist_objects(response)) == 15
