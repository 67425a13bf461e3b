"""Squadron's admin site: squad members log in on its own login page and see
only what they may use; people in no squad, staff without a squad and inactive
members are refused. Every refused attempt asserts that the database is
unchanged, not only the status code."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client
from django.urls import reverse

from catalogue.models import Product
from runbooks.models import Credential, Runbook
from squads.choices import Role
from squads.models import Squad
from tests.admin_forms import admin_url, assert_sent_to_login, product_data, snapshot
from tests.factories import MembershipFactory, UserFactory


@pytest.fixture
def staff_outsider(db: None) -> AbstractBaseUser:
    return UserFactory(username="stan", is_staff=True)


def test_admin_index_lists_only_what_a_member_may_use(client: Client, member: Any) -> None:
    client.force_login(member)

    response = client.get(reverse("admin:index"))

    models = {model["object_name"] for app in response.context["app_list"] for model in app["models"]}
    assert models == {
        "Product",
        "Operation",
        "Category",
        # Their squad's lists of choices for forms (x-choices-from squad_list).
        "ChoiceList",
        "Runbook",
        "RunbookVersion",
        "Credential",
        "Squad",
        "DebtItem",
        "ServiceInstance",
    }


def test_staff_without_squad_sees_nothing_of_the_squads(
    client: Client, staff_outsider: Any, draft_product: Product, runbook: Runbook, credential: Credential
) -> None:
    # Staff may enter the site (for whatever Django model permissions grant),
    # but ownership rules the Squadron models: no squad, nothing to curate.
    client.force_login(staff_outsider)
    before = snapshot(draft_product)

    index = client.get(reverse("admin:index"))
    pages = [
        client.get(admin_url(Product, "changelist")),
        client.get(admin_url(Runbook, "changelist")),
        client.get(admin_url(Credential, "changelist")),
        client.post(
            admin_url(Product, "change", draft_product.pk), product_data(draft_product, name="Renamed")
        ),
    ]

    assert index.status_code == 200
    assert index.context["app_list"] == []
    assert [page.status_code for page in pages] == [403, 403, 403, 403]
    assert snapshot(draft_product) == before


def test_inactive_member_is_refused(client: Client, member: Any, draft_product: Product) -> None:
    member.is_active = False
    member.save()
    client.force_login(member)
    before = snapshot(draft_product)

    response = client.post(
        admin_url(Product, "change", draft_product.pk), product_data(draft_product, name="Renamed")
    )

    assert_sent_to_login(response)
    assert snapshot(draft_product) == before


@pytest.mark.django_db
def test_squad_members_log_in_on_the_admins_own_login_page(client: Client, squad: Squad) -> None:
    """Squad members are not staff: Django's admin login form would refuse
    them although the admin admits them."""
    member = MembershipFactory(user=UserFactory(username="nora"), squad=squad, role=Role.ENGINEER).user
    member.set_password("curate-it-1")
    member.save()
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "nora", "password": "curate-it-1", "next": "/admin/"}
    )
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_the_admin_login_refuses_people_in_no_squad_and_says_why(client: Client) -> None:
    outsider = UserFactory(username="bea")
    outsider.set_password("order-it-1")
    outsider.save()
    response = client.post("/admin/login/", {"username": "bea", "password": "order-it-1"})
    assert response.status_code == 200
    assert "This account is in no squad" in response.content.decode()
    assert "_auth_user_id" not in client.session
