"""Business units in the admin: platform leads and superusers curate them
with their members and quotas inline; a quota the rules refuse is an error
on the form and nothing is saved; nobody else sees them at all."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import Model
from django.urls import reverse

from portal.consumption.models import BusinessUnit, Quota
from squads.choices import Role
from tests.consumption import count_quota
from tests.factories import MembershipFactory, SquadFactory, UserFactory

pytestmark = pytest.mark.django_db


def admin_url(model: type[Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def inline(prefix: str, rows: list[dict[str, Any]], initial: int = 0) -> dict[str, Any]:
    data: dict[str, Any] = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        data.update({f"{prefix}-{index}-{name}": value for name, value in row.items()})
    return data


@pytest.fixture
def platform_lead(db):
    return MembershipFactory(
        user=UserFactory(username="marcus"), squad=SquadFactory(slug="platform"), role=Role.PLATFORM_LEAD
    ).user


def add(client, database, requester, **quota: Any):
    return client.post(
        admin_url(BusinessUnit, "add"),
        {
            "name": "Finance",
            "slug": "finance",
            "cost_centre": "CC-100",
            **inline("memberships", [{"user": requester.pk}]),
            **inline(
                "quotas",
                [{"product": database.pk, "max_instances": "", "attribute": "", "max_total": "", **quota}],
            ),
        },
    )


def test_a_platform_lead_adds_a_unit_with_members_and_quotas(client, platform_lead, requester, database):
    client.force_login(platform_lead)
    response = add(client, database, requester, max_instances="4")
    assert response.status_code == 302, response.context and response.context["errors"]
    unit = BusinessUnit.objects.get(slug="finance")
    assert (unit.name, unit.cost_centre) == ("Finance", "CC-100")
    assert list(unit.members.values_list("username", flat=True)) == ["rita"]
    assert list(unit.quotas.values_list("product__slug", "max_instances")) == [("postgres", 4)]


@pytest.mark.parametrize(
    ("quota", "message"),
    [
        ({"attribute": "db_name", "max_total": "5"}, "have no number attribute &#x27;db_name&#x27;"),
        ({"attribute": "size_gb", "max_total": "-1"}, "greater than or equal to 0"),
        ({"attribute": "size_gb"}, "needs its maximum total"),
        ({}, "Give a maximum number of instances, or an attribute and its total."),
    ],
)
def test_a_refused_quota_is_an_error_on_the_form_and_nothing_is_saved(
    client, admin_user, requester, database, quota, message
):
    client.force_login(admin_user)
    response = add(client, database, requester, **quota)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not BusinessUnit.objects.exists() and not Quota.objects.exists()


def test_a_quota_on_a_product_without_instances_is_refused(client, admin_user, requester, product):
    client.force_login(admin_user)
    response = add(client, product, requester, max_instances="3")
    assert "makes no instances: a quota counts instances." in response.content.decode()
    assert not BusinessUnit.objects.exists()


def test_changing_a_quota_in_place(client, admin_user, requester, database, finance):
    quota = count_quota(finance, database, 2)
    client.force_login(admin_user)
    response = client.post(
        admin_url(BusinessUnit, "change", finance.pk),
        {
            "name": "Finance",
            "slug": "finance",
            "cost_centre": "CC-101",
            **inline("memberships", [{"id": finance.memberships.get().pk, "user": requester.pk}], initial=1),
            **inline(
                "quotas",
                [
                    {
                        "id": quota.pk,
                        "product": database.pk,
                        "max_instances": "",
                        "attribute": "size_gb",
                        "max_total": "250",
                    }
                ],
                initial=1,
            ),
        },
    )
    assert response.status_code == 302
    assert list(finance.quotas.values_list("attribute", "max_total", "max_instances")) == [
        ("size_gb", 250, None)
    ]
    assert BusinessUnit.objects.get().cost_centre == "CC-101"


@pytest.mark.parametrize("role", ["member", "requester", "outsider"])
def test_nobody_else_sees_or_changes_units(client, role, request, finance, database):
    client.force_login(request.getfixturevalue(role))
    for url in (admin_url(BusinessUnit, "changelist"), admin_url(BusinessUnit, "change", finance.pk)):
        response = client.get(url)
        assert response.status_code in (302, 403)
    response = client.post(admin_url(BusinessUnit, "change", finance.pk), {"name": "Mine", "slug": "finance"})
    assert response.status_code in (302, 403)
    assert BusinessUnit.objects.get().name == "Finance"
    if role == "member":
        assert "Business units" not in client.get(reverse("admin:index")).content.decode()
