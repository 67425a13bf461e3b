"""The insight pages: who may open them, what they show, their CSV exports,
and a bounded number of queries however much there is to show."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from catalogue.choices import ProductStatus
from portal.insights.models import DebtItem
from portal.orders.choices import OrderStatus
from squads.choices import Role
from tests.factories import (
    ChapterFactory,
    MembershipFactory,
    ProductFactory,
    RunbookFactory,
    SquadFactory,
    UserFactory,
)
from tests.insights.conftest import make_order

DASHBOARD = "/squads/network/dashboard/"


def recent(**delta):
    return timezone.now() - timedelta(**delta)


@pytest.fixture
def history(automated, manual):
    for index in range(10):
        make_order(
            automated,
            submitted=recent(days=2, minutes=index),
            status=OrderStatus.SUCCEEDED if index < 7 else OrderStatus.FAILED,
            lead=timedelta(minutes=index + 1),
            failure_reason="" if index < 7 else '=HYPERLINK("http://evil")',
        )
    make_order(manual, submitted=recent(days=1), status=OrderStatus.AWAITING_FULFILMENT)
    return automated, manual


def rows_of(response):
    return list(csv.reader(io.StringIO(response.content.decode())))


# --- Who sees what -------------------------------------------------------------------


@pytest.mark.django_db
def test_a_member_sees_their_squads_dashboard_with_its_figures(client, member, history):
    client.force_login(member)

    response = client.get(DASHBOARD)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Network Squad" in page
    assert "70%" in page  # 7 of 10 succeeded
    assert 'role="img"' in page and "<title id=" in page and "<desc id=" in page
    assert "<script" not in page.split("<main", 1)[1]


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["outsider", "other_member"])
def test_anyone_outside_the_squad_gets_a_404_on_its_dashboard_and_its_csv(client, request, who, history):
    client.force_login(request.getfixturevalue(who))

    assert client.get(DASHBOARD).status_code == 404
    assert client.get(f"{DASHBOARD}products.csv").status_code == 404


@pytest.mark.django_db
def test_a_superuser_sees_any_squads_dashboard(client, admin_user, history):
    client.force_login(admin_user)

    assert client.get(DASHBOARD).status_code == 200


@pytest.mark.django_db
def test_signed_out_visitors_are_sent_to_log_in(client, squad):
    response = client.get(DASHBOARD)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_an_unknown_squad_is_a_404(client, admin_user):
    client.force_login(admin_user)

    assert client.get("/squads/nowhere/dashboard/").status_code == 404


@pytest.mark.django_db
def test_the_overview_is_for_platform_and_chapter_leads_and_superusers(client, member, other_squad, squad):
    platform_lead = MembershipFactory(
        user=UserFactory(username="pat"), squad=other_squad, role=Role.PLATFORM_LEAD
    ).user
    chapter = ChapterFactory(lead=UserFactory(username="chad"))
    superuser = UserFactory(username="root", is_superuser=True)

    for user, expected in [(member, 404), (platform_lead, 200), (chapter.lead, 200), (superuser, 200)]:
        client.force_login(user)
        assert client.get("/insights/").status_code == expected, user.username
        assert client.get("/insights/squads.csv").status_code == expected, user.username


@pytest.mark.django_db
def test_leads_open_the_dashboard_of_any_squad_the_overview_links_to(client, other_squad, history):
    platform_lead = MembershipFactory(
        user=UserFactory(username="pat"), squad=other_squad, role=Role.PLATFORM_LEAD
    ).user
    chapter = ChapterFactory(lead=UserFactory(username="chad"))
    for lead in (platform_lead, chapter.lead):
        client.force_login(lead)
        assert f'href="{DASHBOARD}' in client.get("/insights/").content.decode()
        assert client.get(DASHBOARD).status_code == 200, lead.username
        assert client.get(f"/api/v1/squads/{DASHBOARD.split('/')[2]}/metrics/").status_code == 200


@pytest.mark.django_db
def test_the_dependency_graph_is_for_squads_not_for_business_users(client, member, requester, history):
    client.force_login(requester)
    assert client.get("/insights/graph/").status_code == 404
    assert client.get("/insights/graph/vlan/").status_code == 404

    client.force_login(member)
    assert client.get("/insights/graph/").status_code == 200
    assert client.get("/insights/graph/vlan/").status_code == 200


@pytest.mark.django_db
def test_the_navigation_offers_the_dashboards_only_to_those_who_may_open_them(
    client, member, requester, squad
):
    client.force_login(requester)
    assert 'href="/insights/squads/"' not in client.get("/").content.decode()

    client.force_login(member)
    page = client.get("/").content.decode()
    assert 'href="/insights/squads/"' in page and ">Dashboard<" in page
    assert ">Insights<" not in page  # a product owner is not a lead


@pytest.mark.django_db
def test_my_dashboards_goes_straight_to_the_only_squad(client, member, squad):
    client.force_login(member)

    response = client.get("/insights/squads/")

    assert response.status_code == 302
    assert response["Location"] == DASHBOARD


# --- Periods ----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        "since=yesterday",
        "since=2026-02-30",
        "since=2026-03-01&until=2026-01-01",
        "days=0",
        "since=2020-01-01&until=2026-01-01",
        # Date arithmetic near the ends of the calendar overflows.
        "until=9999-12-31",
        "until=0001-01-01",
        "since=0001-01-01",
    ],
)
def test_an_unusable_period_is_a_400_that_names_the_problem(client, member, squad, query):
    client.force_login(member)

    for url in (f"{DASHBOARD}?{query}", f"{DASHBOARD}products.csv?{query}"):
        response = client.get(url)
        assert response.status_code == 400
        assert "cannot be shown" in response.content.decode()


@pytest.mark.django_db
def test_a_period_in_the_past_leaves_out_recent_orders(client, member, history):
    client.force_login(member)
    since = (timezone.now() - timedelta(days=60)).date().isoformat()
    until = (timezone.now() - timedelta(days=30)).date().isoformat()

    response = client.get(f"{DASHBOARD}summary.csv?since={since}&until={until}")
    rows = rows_of(response)

    assert rows[1] == ["Orders", "0"]
    page = client.get(f"{DASHBOARD}?since={since}&until={until}").content.decode()
    assert "are measured now, over their own recent windows" in page
    assert "are measured now" not in client.get(DASHBOARD).content.decode()
    days = f"{since.replace('-', '')}-{until.replace('-', '')}"
    assert response["Content-Disposition"].endswith(f'-summary-{days}.csv"'), "named by the days shown"


# --- CSV ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_products_csv_has_the_exact_figures_with_units_in_the_header(client, member, history):
    client.force_login(member)

    response = client.get(f"{DASHBOARD}products.csv")

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="squad-network-products-')
    rows = rows_of(response)
    assert rows[0] == [
        "Product",
        "SLA (minutes)",
        "Orders",
        "Succeeded",
        "Failed or timed out",
        "Open",
        "Success rate (%)",
        "Lead time median (minutes)",
        "Lead time p90 (minutes)",
        "Within SLA (%)",
        "Automation rate (%)",
    ]
    assert rows[1] == ["VLAN", "30.00", "10", "7", "3", "0", "70.00", "4.00", "6.40", "100.00", "100.00"]
    assert rows[2] == ["Firewall rule", "240.00", "1", "0", "0", "1", "", "", "", "", ""]


@pytest.mark.django_db
def test_csv_cells_that_look_like_formulas_are_defused(client, member, history):
    client.force_login(member)

    rows = rows_of(client.get(f"{DASHBOARD}failure-reasons.csv"))

    assert rows[1][0] == '\'=HYPERLINK("http://evil")'
    assert rows[1][1] == "3"


@pytest.mark.django_db
def test_every_table_on_the_dashboard_exports_as_csv(client, member, history):
    from portal.insights.reports import SquadReport

    client.force_login(member)
    page = client.get(DASHBOARD).content.decode()

    for slug in SquadReport.TABLES:
        assert f"/squads/network/dashboard/{slug}.csv?" in page
        response = client.get(f"{DASHBOARD}{slug}.csv")
        assert response.status_code == 200, slug
        assert rows_of(response)[0], slug
    assert client.get(f"{DASHBOARD}nonsense.csv").status_code == 404


@pytest.mark.django_db
def test_every_overview_table_exports_as_csv(client, admin_user, history):
    from portal.insights.reports import OverviewReport

    client.force_login(admin_user)
    assert client.get("/insights/").status_code == 200
    for slug in OverviewReport.TABLES:
        response = client.get(f"/insights/{slug}.csv")
        assert response.status_code == 200, slug


@pytest.mark.django_db
def test_the_dependency_table_and_the_impact_list_export_as_csv(
    client, member, history, automated, other_squad
):
    vm = ProductFactory(slug="vm", name="VM", squad=other_squad)
    vm.depends_on.add(automated)
    make_order(vm, submitted=recent(hours=2), status=OrderStatus.QUEUED)
    client.force_login(member)

    graph_rows = rows_of(client.get("/insights/graph/?format=csv"))
    impact_rows = rows_of(client.get("/insights/graph/vlan/?format=csv"))

    assert ["VM", "Compute Squad", "1", "VLAN", "", "ok", "1"] in graph_rows
    assert [row[1] for row in impact_rows[1:]] == ["VM"]


# --- Content -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_dashboard_lists_debt_worst_first_with_the_register(client, member, history, squad, manual):
    DebtItem.objects.create(
        squad=squad,
        product=manual,
        title="Spreadsheet of rules",
        severity="critical",
        estimated_effort_days=5,
    )
    client.force_login(member)

    page = client.get(DASHBOARD).content.decode()

    debt = page.split('id="table-debt"', 1)[1]
    assert debt.index("Firewall rule") < debt.index("VLAN")  # 20 points against 5 (no check mode)
    assert "Spreadsheet of rules" in page.split('id="table-register"', 1)[1]
    assert "/admin/insights/debtitem/add/?squad=" in page


@pytest.mark.django_db
def test_a_product_page_warns_about_a_failing_dependency(client, requester, automated, other_squad):
    vm = ProductFactory(slug="vm", name="VM", squad=other_squad)
    vm.depends_on.add(automated)
    for _ in range(3):
        make_order(automated, submitted=recent(days=1), status=OrderStatus.FAILED, lead=timedelta(minutes=1))
    make_order(vm, submitted=recent(days=3), lead=timedelta(minutes=20))
    client.force_login(requester)

    page = client.get("/products/vm/").content.decode()

    assert "VLAN (Network Squad) is failing: 3 of its last 3 orders failed in the last 7 days." in page
    assert "20 min" in page and "median of 1 order in the last 90 days" in page


@pytest.mark.django_db
def test_impact_page_names_the_other_squads_to_tell(client, member, automated, other_squad):
    ProductFactory(slug="vm", name="VM", squad=other_squad).depends_on.add(automated)
    client.force_login(member)

    page = client.get("/insights/graph/vlan/").content.decode()

    assert "Tell Compute Squad before changing it." in page


# --- Query counts ------------------------------------------------------------------------


def _grow(squad, other_squad, count):
    for index in range(count):
        product = ProductFactory(slug=f"extra-{index}", squad=squad, runbook=RunbookFactory(squad=squad))
        dependency = ProductFactory(slug=f"upstream-{index}", squad=other_squad)
        product.depends_on.add(dependency)
        MembershipFactory(user=UserFactory(username=f"extra-member-{index}"), squad=squad)
        for minutes in (3, 9, 27):
            make_order(product, submitted=recent(days=3), lead=timedelta(minutes=minutes))


@pytest.mark.django_db
@pytest.mark.parametrize("extra", [0, 6])
def test_the_dashboard_costs_a_bounded_number_of_queries(
    client, member, history, squad, other_squad, extra, django_assert_max_num_queries
):
    _grow(squad, other_squad, extra)
    client.force_login(member)

    # 46: the squad's load counts the instances it keeps running (one query).
    with django_assert_max_num_queries(46):
        assert client.get(DASHBOARD).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("extra", [0, 6])
def test_the_overview_costs_a_bounded_number_of_queries(
    client, admin_user, history, squad, other_squad, extra, django_assert_max_num_queries
):
    _grow(squad, other_squad, extra)
    SquadFactory(slug="third")
    client.force_login(admin_user)

    with django_assert_max_num_queries(42):
        assert client.get("/insights/").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("extra", [0, 6])
def test_the_graph_costs_a_bounded_number_of_queries(
    client, member, history, squad, other_squad, extra, django_assert_max_num_queries
):
    _grow(squad, other_squad, extra)
    client.force_login(member)

    with django_assert_max_num_queries(12):
        assert client.get("/insights/graph/").status_code == 200


@pytest.mark.django_db
def test_retired_products_show_dashed_on_the_graph(client, member, automated, other_squad):
    vm = ProductFactory(slug="vm", name="VM", squad=other_squad)
    vm.depends_on.add(automated)
    automated.status = ProductStatus.RETIRED
    automated.save()
    client.force_login(member)

    page = client.get("/insights/graph/").content.decode()

    assert "node-retired" in page
    assert "VM (Compute Squad) depends on VLAN, which is retired." in page


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+1", "'=1+1"),
        (" =HYPERLINK(1)", "' =HYPERLINK(1)"),
        ("\n@SUM(A1)", "'\n@SUM(A1)"),
        ("\t-2+3", "'\t-2+3"),
        ("-12.5", "-12.5"),
        ("plain = text", "plain = text"),
        ("", ""),
    ],
)
def test_a_formula_behind_blanks_is_defused_too(cell, written):
    from portal.insights.tables import _defuse

    assert _defuse(cell) == written
