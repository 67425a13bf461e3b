"""The cost page and its CSV: who sees which costs, what utilization it
shows (idle instances, instances past their expiry, replicated resources),
and clear refusals of bad parameters."""

from __future__ import annotations

import csv
import io

import pytest

from tests.insights.cost_world import cost_world

COST = "/insights/cost/"
UTILIZATION = "/insights/cost/utilization/"

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(squad, other_squad):
    return cost_world(squad, other_squad)


def rows_of(response):
    return list(csv.reader(io.StringIO(response.content.decode())))


def column(rows, label):
    index = rows[0].index(label)
    return [row[index] for row in rows[1:]]


def section(page, slug):
    return page.split(f'id="table-{slug}"')[1].split("</section>")[0]


def test_a_platform_lead_sees_every_unit_product_squad_and_the_utilization(client, world):
    client.force_login(world.users["marcus"])

    response = client.get(COST)
    utilization = client.get(UTILIZATION)

    assert response.status_code == 200 and utilization.status_code == 200
    page = response.content.decode()
    for name in ("Finance", "Marketing", "Unassigned", "CC-100", "Virtual machine", "Database", "DNS record"):
        assert name in page
    assert "Network Squad" in page and "Compute Squad" in page
    assert "old-reports-db" in section(page, "instances")
    assert 'role="img"' in page and "<script" not in page.split("<main", 1)[1]
    page = utilization.content.decode()
    assert "forgotten-vm" in section(page, "idle") and "finance-app-01" not in section(page, "idle")
    assert "old-reports-db" in section(page, "expired")
    replicated = section(page, "replicated")
    assert "Virtual machine" in replicated and "Compute instance" in replicated
    assert "<script" not in page.split("<main", 1)[1]
    page = response.content.decode()
    # Wide tables scroll, and a keyboard reaches the scrolling box.
    assert (
        'class="table-scroll" tabindex="0" role="region" aria-label="Table: Spend per business unit"' in page
    )


@pytest.mark.parametrize("lead", ["sam", "admin"])
def test_a_chapter_lead_and_a_superuser_see_everything_too(client, world, admin_user, lead):
    client.force_login(admin_user if lead == "admin" else world.users[lead])

    page = client.get(COST).content.decode()

    assert "Marketing" in page and "Finance" in page
    assert 'id="table-replicated"' in client.get(UTILIZATION).content.decode()


def test_a_business_units_member_sees_what_their_unit_is_charged_and_nothing_else(client, world):
    client.force_login(world.users["fiona"])

    response = client.get(COST)

    assert response.status_code == 200
    page = response.content.decode()
    assert "What Finance is charged." in page
    tables = page.split('id="table-business-units"')[1]
    assert "Finance" in tables and "Marketing" not in tables and "Unassigned" not in tables
    assert "finance-app-01" in page and "DNS record" in page
    assert "forgotten-vm" not in page and "old-reports-db" not in page and "batch-runner" not in page
    page = client.get(UTILIZATION).content.decode()
    assert "forgotten-vm" not in page and "old-reports-db" not in page
    assert 'id="table-replicated"' not in page
    units = rows_of(client.get(f"{COST}business-units.csv"))
    assert column(units, "Business unit") == ["Finance"]
    assert client.get(f"{COST}replicated.csv").status_code == 404


def test_a_squads_member_sees_what_its_products_earn_from_every_unit(client, world):
    client.force_login(world.users["nora"])

    page = client.get(COST).content.decode()

    assert "What the products of Network Squad earn." in page
    products = rows_of(client.get(f"{COST}products.csv"))
    assert sorted(column(products, "Product")) == ["DNS record", "Virtual machine"]
    units = rows_of(client.get(f"{COST}business-units.csv"))
    assert sorted(column(units, "Business unit")) == ["Finance", "Unassigned"]
    assert "old-reports-db" not in page and "batch-runner" not in page
    page = client.get(UTILIZATION).content.decode()
    assert "forgotten-vm" in section(page, "idle")  # an idle instance of its product
    assert "old-reports-db" not in page and 'id="table-replicated"' not in page


def test_the_other_squad_sees_its_own_products_only(client, world):
    client.force_login(world.users["otto"])

    products = rows_of(client.get(f"{COST}products.csv"))

    assert sorted(column(products, "Product")) == ["Compute instance", "Database"]


@pytest.mark.parametrize("path", [COST, UTILIZATION, f"{COST}products.csv", f"{COST}idle.csv"])
def test_someone_in_no_unit_and_no_squad_gets_a_404(client, world, path):
    client.force_login(world.users["oscar"])

    assert client.get(path).status_code == 404


def test_an_anonymous_visitor_is_sent_to_log_in(client, world):
    response = client.get(COST)

    assert response.status_code == 302 and "/login/" in response["Location"]


def test_idle_and_replicated_resources_are_in_the_csv(client, world):
    client.force_login(world.users["marcus"])

    idle = rows_of(client.get(f"{COST}idle.csv"))
    expired = rows_of(client.get(f"{COST}expired.csv"))
    replicated = rows_of(client.get(f"{COST}replicated.csv"))

    assert column(idle, "Instance") == ["forgotten-vm"]
    assert column(idle, "Business unit") == ["Unassigned"]
    assert column(idle, "Cost a month") == ["30.00"]
    assert int(column(idle, "Days without an order")[0]) == 60
    assert column(expired, "Instance") == ["old-reports-db"]
    assert column(replicated, "Product") == ["Virtual machine"]  # it cost more than its twin
    assert column(replicated, "Similar product") == ["Compute instance"]
    assert column(replicated, "Same category") == ["yes"]
    assert column(replicated, "Attributes in common") == ["hostname; size_gb; vcpus"]
    assert float(column(replicated, "Similarity (%)")[0]) == 100.0
    assert float(column(replicated, "Spend together")[0]) > 0


def test_idle_days_is_a_parameter_of_the_page_and_the_csv(client, world):
    client.force_login(world.users["marcus"])

    assert column(rows_of(client.get(f"{COST}idle.csv", {"idle_days": 90})), "Instance") == []
    # The busy VM's last order was two days ago, the expired database's one
    # day ago; the batch runner was made five days ago and never touched since.
    three_days = column(rows_of(client.get(f"{COST}idle.csv", {"idle_days": 3})), "Instance")
    assert sorted(three_days) == ["batch-runner", "forgotten-vm"]
    page = client.get(UTILIZATION, {"idle_days": 3}).content.decode()
    assert "no order for 3 days" in page and 'value="3"' in page
    # The tabs keep the period and the idle days.
    assert 'href="/insights/cost/?since=' in page and "idle_days=3" in page


def test_the_months_of_the_period_are_columns_and_the_totals_add_up(client, world):
    client.force_login(world.users["marcus"])

    months = rows_of(client.get(f"{COST}months.csv"))
    units = rows_of(client.get(f"{COST}business-units.csv"))
    products = rows_of(client.get(f"{COST}products.csv"))

    assert len(months) == 13  # the header and twelve months, this one last
    total = sum(float(amount) for amount in column(months, "Spend"))
    assert round(sum(float(amount) for amount in column(units, "Total")), 2) == round(total, 2)
    assert round(sum(float(amount) for amount in column(products, "Total")), 2) == round(total, 2)
    assert units[0][:2] == ["Business unit", "Cost centre"] and units[0][-1] == "Total"


def test_a_period_with_no_data_shows_zero(client, world):
    client.force_login(world.users["marcus"])

    response = client.get(COST, {"since": "2020-01-01", "until": "2020-03-31"})

    assert response.status_code == 200
    months = rows_of(client.get(f"{COST}months.csv", {"since": "2020-01-01", "until": "2020-03-31"}))
    assert months[1:] == [["2020-01", "0.00"], ["2020-02", "0.00"], ["2020-03", "0.00"]]
    assert "No instance cost anything in this period." in response.content.decode()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-02-30"}, "until"),
        ({"since": "2026-03-01", "until": "2026-01-01"}, "since"),
        ({"idle_days": "soon"}, "idle_days"),
        ({"idle_days": "0"}, "idle_days"),
    ],
)
def test_a_bad_parameter_is_refused_naming_it(client, world, params, field):
    client.force_login(world.users["marcus"])

    for path in (COST, UTILIZATION, f"{COST}idle.csv"):
        response = client.get(path, params)
        assert response.status_code == 400
        assert f"<strong>{field}</strong>" in response.content.decode()


def test_the_page_takes_a_bounded_number_of_queries(client, world, django_assert_max_num_queries):
    client.force_login(world.users["marcus"])

    # The spend's statement runs in a transaction of its own (a savepoint
    # here) and on PostgreSQL sets its memory first.
    with django_assert_max_num_queries(20):
        assert client.get(COST).status_code == 200
    with django_assert_max_num_queries(27):
        assert client.get(UTILIZATION).status_code == 200


def test_the_navigation_links_the_cost_page_for_a_units_member(client, world):
    client.force_login(world.users["fiona"])

    page = client.get("/").content.decode()

    assert 'href="/insights/cost/"' in page
