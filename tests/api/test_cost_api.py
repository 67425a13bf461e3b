"""``GET /api/v1/cost/``: spend per month by business unit, product or
squad, scoped like the cost page, with 400s naming a bad parameter."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from portal.instances.choices import InstanceState
from tests.insights.cost_world import cost_world, make_instance

pytestmark = pytest.mark.django_db

URL = "/api/v1/cost/"
Q1 = {"since": "2026-01-01", "until": "2026-03-31"}


@pytest.fixture
def world(squad, other_squad):
    return cost_world(squad, other_squad)


@pytest.fixture
def history(world):
    """One Finance VM of the first quarter of 2026, created mid-January and
    decommissioned early March."""
    return make_instance(
        world.vm,
        name="q1-vm",
        created=datetime(2026, 1, 10, 10, tzinfo=UTC),
        unit=world.finance,
        state=InstanceState.DECOMMISSIONED,
        decommissioned_at=datetime(2026, 3, 5, 9, tzinfo=UTC),
    )


def test_a_lead_gets_spend_per_business_unit_month_by_month_with_exact_figures(api_for, world, history):
    response = api_for(world.users["marcus"]).get(URL, Q1)

    assert response.status_code == 200
    body = response.json()
    assert body["group_by"] == "business_unit"
    assert body["months"] == ["2026-01", "2026-02", "2026-03"]
    assert body["first_day"] == "2026-01-01" and body["last_day"] == "2026-03-31"
    finance = next(group for group in body["groups"] if group["key"] == "finance")
    assert finance["cost_centre"] == "CC-100"
    assert finance["months"] == [
        {"month": "2026-01", "amount": "21.29"},
        {"month": "2026-02", "amount": "30.00"},
        {"month": "2026-03", "amount": "4.84"},
    ]
    assert finance["total"] == "56.13" == body["total"]
    assert {group["key"] for group in body["groups"]} == {"finance", "marketing"}  # nothing unassigned then


def test_grouped_by_product_and_by_squad(api_for, world, history):
    client = api_for(world.users["marcus"])

    products = client.get(URL, {**Q1, "group_by": "product"}).json()["groups"]
    squads = client.get(URL, {**Q1, "group_by": "squad"}).json()["groups"]

    assert [(group["key"], group["squad"], group["total"]) for group in products] == [
        ("vm", "network", "56.13")
    ]
    assert [(group["key"], group["total"]) for group in squads] == [("network", "56.13"), ("compute", "0.00")]


def test_the_unassigned_are_a_group_with_a_null_key(api_for, world):
    body = api_for(world.users["marcus"]).get(URL).json()

    unassigned = next(group for group in body["groups"] if group["key"] is None)
    assert unassigned["name"] == "Unassigned" and Decimal(unassigned["total"]) > 0
    assert len(body["months"]) == 12


def test_a_units_member_gets_their_unit_only(api_for, world, history):
    body = api_for(world.users["fiona"]).get(URL, Q1).json()

    assert [group["key"] for group in body["groups"]] == ["finance"]
    products = api_for(world.users["mark"]).get(URL, {**Q1, "group_by": "product"}).json()["groups"]
    assert products == []


def test_a_period_with_no_data_costs_zero(api_for, world):
    body = api_for(world.users["marcus"]).get(URL, {"since": "2019-01-01", "until": "2019-01-31"}).json()

    assert body["total"] == "0.00"
    assert body["per_month"] == [{"month": "2019-01", "amount": "0.00"}]


def test_an_unknown_grouping_is_a_400_naming_the_allowed_values(api_for, world):
    response = api_for(world.users["marcus"]).get(URL, {"group_by": "owner"})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["errors"]["group_by"] == [
        "Unknown grouping 'owner': use one of business_unit, product, squad."
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "01/02/2026"}, "since"),
        ({"until": "2026-13-01"}, "until"),
        ({"since": "2026-03-01", "until": "2026-02-01"}, "since"),
        ({"since": "2020-01-01", "until": "2026-01-01"}, "since"),
        ({"days": "-3"}, "days"),
    ],
)
def test_bad_dates_are_a_400_naming_the_parameter(api_for, world, params, field):
    response = api_for(world.users["marcus"]).get(URL, params)

    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_both_bad_dates_and_grouping_are_named_at_once(api_for, world):
    response = api_for(world.users["marcus"]).get(URL, {"since": "soon", "group_by": "owner"})

    assert set(response.json()["errors"]) == {"since", "group_by"}


def test_someone_who_may_see_no_cost_gets_a_404(api_for, world):
    response = api_for(world.users["oscar"]).get(URL)

    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_the_answer_takes_a_bounded_number_of_queries(api_for, world, django_assert_max_num_queries):
    client = api_for(world.users["marcus"])
    with django_assert_max_num_queries(12):
        assert client.get(URL, {"group_by": "squad"}).status_code == 200
