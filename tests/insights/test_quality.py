"""Service quality and automation figures on known histories."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection

from catalogue.choices import ApprovalPolicy, Fulfilment
from portal.insights import breakdowns
from portal.insights import quality as q
from portal.insights.aggregates import percentiles
from portal.insights.periods import Period
from portal.orders.choices import OrderStatus
from portal.orders.models import Order
from portal.timespans import Elapsed
from tests.factories import ProductFactory, SquadFactory, UserFactory
from tests.insights.conftest import NOW, make_order

PERIOD = Period.last(30, now=NOW)
BOTH_WAYS = pytest.mark.parametrize(
    "native",
    [
        pytest.param(True, id="percentile_cont"),
        pytest.param(False, id="offset-and-rank"),
    ],
)


def skip_unless_native_possible(native: bool) -> None:
    if native and connection.vendor != "postgresql":
        pytest.skip("PERCENTILE_CONT is PostgreSQL's; the service-backed run covers it")


@pytest.mark.django_db
def test_ten_orders_seven_succeeded_is_a_seventy_percent_success_rate(automated):
    for index in range(10):
        make_order(
            automated,
            submitted=NOW - timedelta(days=2, minutes=index),
            status=OrderStatus.SUCCEEDED if index < 7 else OrderStatus.FAILED,
            lead=timedelta(minutes=5),
        )

    result = q.quality(q.orders_in(PERIOD))

    assert (result.orders, result.finished, result.succeeded, result.failed) == (10, 10, 7, 3)
    assert result.success_rate == pytest.approx(0.7)


@pytest.mark.django_db
def test_open_orders_do_not_count_against_the_success_rate_until_they_end(automated):
    make_order(automated, submitted=NOW - timedelta(days=1), lead=timedelta(minutes=3))
    make_order(automated, submitted=NOW - timedelta(days=1), status=OrderStatus.RUNNING)

    result = q.quality(q.orders_in(PERIOD))

    assert (result.orders, result.open, result.finished) == (2, 1, 1)
    assert result.success_rate == 1.0


@pytest.mark.django_db
def test_finishing_exactly_at_the_sla_attains_it_and_one_microsecond_later_does_not(automated):
    submitted = NOW - timedelta(days=1, microseconds=123_456)
    make_order(automated, submitted=submitted, lead=timedelta(minutes=30))
    make_order(automated, submitted=submitted, lead=timedelta(minutes=30, microseconds=1))
    make_order(automated, submitted=submitted, lead=timedelta(minutes=29, seconds=59))

    result = q.quality(q.orders_in(PERIOD))

    assert result.within_sla == 2
    assert result.sla_attainment == pytest.approx(2 / 3)


@pytest.mark.django_db
def test_each_order_is_held_to_its_own_products_sla_in_a_squad_figure(automated, manual):
    # 45 minutes: beyond the VLAN's 30, well within the firewall rule's 240.
    make_order(automated, submitted=NOW - timedelta(days=1), lead=timedelta(minutes=45))
    make_order(manual, submitted=NOW - timedelta(days=1), lead=timedelta(minutes=45))

    result = q.quality(q.orders_in(PERIOD, squad_id=automated.squad_id))

    assert result.within_sla == 1


@BOTH_WAYS
@pytest.mark.django_db
def test_median_and_p90_lead_time_interpolate_like_percentile_cont(automated, native):
    skip_unless_native_possible(native)
    for minutes in range(1, 11):
        make_order(automated, submitted=NOW - timedelta(days=3), lead=timedelta(minutes=minutes))
    # Failed orders have no lead time: what a requester waits is for a delivery.
    make_order(
        automated, submitted=NOW - timedelta(days=3), status=OrderStatus.FAILED, lead=timedelta(days=9)
    )

    found = percentiles(
        Order.objects.filter(status=OrderStatus.SUCCEEDED),
        Elapsed("finished_at", "created_at"),
        (0.5, 0.9),
        native=native,
    )[None]

    assert found[0.5] == 5.5 * 60 * 1_000_000
    assert found[0.9] == 9.1 * 60 * 1_000_000  # 1 + 0.9 x (10 - 1) minutes


@BOTH_WAYS
@pytest.mark.django_db
def test_percentiles_per_group_match_each_groups_own_data(squad, native):
    skip_unless_native_possible(native)
    small = ProductFactory(slug="small", squad=squad)
    large = ProductFactory(slug="large", squad=squad)
    lonely = ProductFactory(slug="lonely", squad=squad)
    for seconds in (10, 20, 30, 40):
        make_order(small, submitted=NOW - timedelta(days=1), lead=timedelta(seconds=seconds))
    for seconds in (100, 300, 200):
        make_order(large, submitted=NOW - timedelta(days=1), lead=timedelta(seconds=seconds))
    make_order(lonely, submitted=NOW - timedelta(days=1), lead=timedelta(seconds=7))

    found = percentiles(
        Order.objects.all(),
        Elapsed("finished_at", "created_at"),
        (0.5, 0.9),
        group_by="product_id",
        native=native,
    )

    assert found[small.pk] == {0.5: 25_000_000.0, 0.9: 37_000_000.0}
    assert found[large.pk] == {0.5: 200_000_000.0, 0.9: 280_000_000.0}
    assert found[lonely.pk] == {0.5: 7_000_000.0, 0.9: 7_000_000.0}


@pytest.mark.django_db
def test_no_orders_gives_no_figures_rather_than_zeros(automated):
    result = q.quality(q.orders_in(PERIOD))

    assert result.orders == 0
    assert result.success_rate is None
    assert result.lead_median_seconds is None
    assert result.sla_attainment is None
    assert breakdowns.expected_lead_time(automated, now=NOW) is None


@pytest.mark.django_db
def test_the_period_is_half_open_and_counts_orders_by_submission(automated):
    make_order(automated, submitted=PERIOD.since, lead=timedelta(minutes=1))
    make_order(automated, submitted=PERIOD.until, lead=timedelta(minutes=1))
    make_order(automated, submitted=PERIOD.since - timedelta(microseconds=1), lead=timedelta(minutes=1))

    assert q.quality(q.orders_in(PERIOD)).orders == 1


@pytest.mark.django_db
def test_automation_rate_counts_succeeded_orders_fulfilled_without_a_manual_step(automated, manual, squad):
    gated = ProductFactory(slug="gated", squad=squad, approval_policy=ApprovalPolicy.SQUAD)
    for _ in range(3):
        make_order(automated, submitted=NOW - timedelta(days=1), lead=timedelta(minutes=2))
    make_order(gated, submitted=NOW - timedelta(days=1), lead=timedelta(hours=2))
    make_order(manual, submitted=NOW - timedelta(days=1), lead=timedelta(hours=3))
    make_order(
        automated, submitted=NOW - timedelta(days=1), status=OrderStatus.FAILED, lead=timedelta(minutes=1)
    )

    result = q.quality(q.orders_in(PERIOD))

    assert (result.succeeded, result.automated, result.zero_touch) == (5, 4, 3)
    assert result.automation_rate == pytest.approx(0.8)
    assert result.zero_touch_rate == pytest.approx(0.6)


@pytest.mark.django_db
def test_per_product_table_lists_every_product_of_the_squad_even_without_orders(
    automated, manual, other_squad
):
    foreign = ProductFactory(slug="foreign", squad=other_squad)
    make_order(automated, submitted=NOW - timedelta(days=1), lead=timedelta(minutes=2))
    make_order(
        automated, submitted=NOW - timedelta(days=1), status=OrderStatus.FAILED, lead=timedelta(minutes=2)
    )
    make_order(foreign, submitted=NOW - timedelta(days=1), lead=timedelta(minutes=2))

    rows = q.product_quality_table(PERIOD, squad_id=automated.squad_id)

    assert [(row.product.slug, row.quality.orders, row.quality.success_rate) for row in rows] == [
        ("vlan", 2, 0.5),
        ("firewall-rule", 0, None),
    ]


@pytest.mark.django_db
def test_time_is_split_between_approval_queue_running_and_manual_work(automated, manual):
    make_order(
        automated,
        submitted=NOW - timedelta(days=1),
        lead=timedelta(minutes=40),
        approved_after=timedelta(minutes=30),
        queued_after=timedelta(minutes=30),
        started_after=timedelta(minutes=32),
    )
    make_order(
        manual,
        submitted=NOW - timedelta(days=1),
        lead=timedelta(hours=3),
        approved_after=timedelta(hours=1),
        claimed_after=timedelta(hours=2),
    )

    phases = {phase.key: phase for phase in q.quality(q.orders_in(PERIOD)).phases}

    assert phases["approval_wait"].orders == 2
    assert phases["approval_wait"].mean_seconds == (30 * 60 + 3600) / 2
    assert phases["queue_wait"].total_seconds == 2 * 60
    assert phases["running"].total_seconds == 8 * 60
    assert phases["manual_wait"].total_seconds == 3600
    assert phases["manual_work"].total_seconds == 3600


@pytest.mark.django_db
def test_failure_reasons_are_grouped_most_frequent_first(automated):
    for reason in ["worker_lost", "Run failed: host unreachable", "worker_lost", "worker_lost"]:
        make_order(
            automated,
            submitted=NOW - timedelta(days=1),
            status=OrderStatus.FAILED,
            lead=timedelta(minutes=1),
            failure_reason=reason,
        )
    make_order(
        automated, submitted=NOW - timedelta(days=1), status=OrderStatus.TIMED_OUT, lead=timedelta(minutes=1)
    )

    reasons = [(row.reason, row.orders) for row in breakdowns.failure_reasons(q.orders_in(PERIOD))]

    assert reasons == [("worker_lost", 3), ("(no reason recorded)", 1), ("Run failed: host unreachable", 1)]


@pytest.mark.django_db
def test_failures_that_differ_only_by_values_are_counted_together(automated, manual):
    reasons = [
        (automated, 1, "VLAN 120 already exists at par1 under another name."),
        (automated, 2, "VLAN 121 already exists at par1 under another name."),
        (manual, 3, "VLAN 7 already exists at par1 under another name."),
        (automated, 4, "VLAN 120 already exists at lon1 under another name."),
        (automated, 5, "Gateway 10.20.30.1/24 is taken by a39f0c2d7e."),
        (automated, 6, "Gateway 10.20.99.1/26 is taken by 77ab0c2d7e."),
    ]
    for product, hours, reason in reasons:
        make_order(
            product,
            submitted=NOW - timedelta(days=1, hours=hours),
            status=OrderStatus.FAILED,
            lead=timedelta(minutes=1),
            failure_reason=reason,
        )

    rows = breakdowns.failure_reasons(q.orders_in(PERIOD))

    assert [(row.reason, row.orders, row.products, row.variants) for row in rows] == [
        ("VLAN … already exists at par1 under another name.", 3, 2, 3),
        ("Gateway … is taken by ….", 2, 1, 2),
        ("VLAN 120 already exists at lon1 under another name.", 1, 1, 1),
    ]
    assert rows[0].example == "VLAN 120 already exists at par1 under another name.", "the latest"
    assert rows[0].last_seen == NOW - timedelta(days=1, hours=1) + timedelta(minutes=1)


@pytest.mark.django_db
def test_weekly_trend_has_every_week_of_the_period_monday_first(automated):
    period = Period(since=NOW - timedelta(days=16), until=NOW, now=NOW)  # Mon 2 Mar .. Wed 18 Mar
    make_order(automated, submitted=NOW - timedelta(days=1), lead=timedelta(minutes=10))
    make_order(automated, submitted=NOW - timedelta(days=1), lead=timedelta(minutes=20))
    make_order(
        automated, submitted=NOW - timedelta(days=15), status=OrderStatus.FAILED, lead=timedelta(minutes=1)
    )

    weeks = breakdowns.weekly_trend(q.orders_in(period), period)

    assert [week.start.date().isoformat() for week in weeks] == ["2026-03-02", "2026-03-09", "2026-03-16"]
    assert [(week.orders, week.succeeded, week.failed) for week in weeks] == [(1, 0, 1), (0, 0, 0), (2, 2, 0)]
    assert weeks[2].lead_median_seconds == 15 * 60
    assert weeks[0].success_rate == 0.0
    assert weeks[1].success_rate is None


@pytest.mark.django_db
def test_lead_time_histogram_puts_each_succeeded_order_in_one_bucket(automated):
    for lead in (timedelta(minutes=4), timedelta(minutes=5), timedelta(minutes=14), timedelta(days=4)):
        make_order(automated, submitted=NOW - timedelta(days=5), lead=lead)
    make_order(
        automated, submitted=NOW - timedelta(days=5), status=OrderStatus.FAILED, lead=timedelta(minutes=1)
    )

    buckets = {bucket.label: bucket.orders for bucket in breakdowns.lead_time_histogram(q.orders_in(PERIOD))}

    assert buckets["< 5 min"] == 1
    assert buckets["5-15 min"] == 2
    assert buckets["> 3 days"] == 1
    assert sum(buckets.values()) == 4


@pytest.mark.django_db
def test_automation_candidates_rank_manual_products_by_hands_on_time(squad, manual):
    small_but_many = ProductFactory(slug="restore", squad=squad, fulfilment=Fulfilment.MANUAL, runbook=None)
    fixer = UserFactory(username="fixer")
    for _ in range(2):  # 2 x 3 h of work
        make_order(
            manual,
            submitted=NOW - timedelta(days=3),
            lead=timedelta(hours=4),
            claimed_after=timedelta(hours=1),
            claimed_by=fixer,
        )
    for _ in range(5):  # 5 x 30 min of work
        make_order(
            small_but_many,
            submitted=NOW - timedelta(days=3),
            lead=timedelta(hours=1),
            claimed_after=timedelta(minutes=30),
            claimed_by=fixer,
        )

    ranked = breakdowns.automation_candidates(PERIOD, squad_id=squad.pk)

    assert [(row.product.slug, row.orders, row.hands_on_hours) for row in ranked] == [
        ("firewall-rule", 2, 6.0),
        ("restore", 5, 2.5),
    ]
    assert ranked[1].hands_on_mean_seconds == 30 * 60


@pytest.mark.django_db
def test_expected_lead_time_is_the_median_of_recent_successes(automated):
    for minutes in (10, 20, 40):
        make_order(automated, submitted=NOW - timedelta(days=2), lead=timedelta(minutes=minutes))
    make_order(automated, submitted=NOW - timedelta(days=200), lead=timedelta(days=3))

    expected = breakdowns.expected_lead_time(automated, now=NOW)

    assert expected is not None
    assert expected.median == timedelta(minutes=20)
    assert expected.sample_size == 3
    assert expected.within_sla is True


@pytest.mark.django_db
def test_quality_by_squad_keeps_squads_apart(automated):
    elsewhere = ProductFactory(slug="elsewhere", squad=SquadFactory(slug="elsewhere"))
    make_order(automated, submitted=NOW - timedelta(days=1), lead=timedelta(minutes=1))
    make_order(
        elsewhere, submitted=NOW - timedelta(days=1), status=OrderStatus.FAILED, lead=timedelta(minutes=1)
    )

    by_squad = q.quality_by(q.orders_in(PERIOD), "squad_id")

    assert by_squad[automated.squad_id].success_rate == 1.0
    assert by_squad[elsewhere.squad_id].success_rate == 0.0


@pytest.mark.django_db
def test_the_total_added_up_from_groups_equals_the_total_computed_directly(automated, manual):
    day = NOW - timedelta(days=1)
    make_order(automated, submitted=day, lead=timedelta(minutes=7), queued_after=timedelta(0))
    make_order(automated, submitted=day, status=OrderStatus.FAILED, lead=timedelta(minutes=1))
    make_order(manual, submitted=day, lead=timedelta(hours=2), claimed_after=timedelta(hours=1))
    make_order(manual, submitted=day, status=OrderStatus.AWAITING_FULFILMENT)

    total, groups = q.quality_with_groups(q.orders_in(PERIOD), "product_id")

    assert total == q.quality(q.orders_in(PERIOD))
    assert sum(group.orders for group in groups.values()) == 4


def test_a_date_names_the_whole_day_and_until_includes_it():
    from portal.insights.periods import PeriodError, period_from_query

    period = period_from_query({"since": "2026-03-02", "until": "2026-03-02"}, now=NOW)

    assert (period.since.isoformat(), period.until.isoformat()) == (
        "2026-03-02T00:00:00+00:00",
        "2026-03-03T00:00:00+00:00",
    )
    exact = period_from_query({"since": "2026-03-02T10:00:00Z", "until": "2026-03-02T11:30:00+00:00"})
    assert exact.until - exact.since == timedelta(minutes=90)
    assert period_from_query({"days": "7"}, now=NOW).since == NOW - timedelta(days=7)
    with pytest.raises(PeriodError) as error:
        period_from_query({"since": "soon", "until": "2026-02-30", "days": "x"}, now=NOW)
    assert set(error.value.errors) == {"since", "until", "days"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (NOW, NOW + timedelta(seconds=1, microseconds=500_000), 1_500_000),
        (NOW + timedelta(microseconds=999_999), NOW + timedelta(seconds=2), 1_000_001),
        (NOW + timedelta(microseconds=1), NOW + timedelta(days=400, microseconds=1), 400 * 86_400_000_000),
    ],
)
def test_elapsed_is_exact_to_the_microsecond(automated, start, end, expected):
    make_order(automated, submitted=start, lead=end - start)

    assert (
        Order.objects.annotate(e=Elapsed("finished_at", "created_at")).values_list("e", flat=True).get()
        == expected
    )


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["UTC", "Pacific/Auckland"])
def test_week_start_agrees_with_django_truncweek_on_every_day_and_edge(zone):
    from datetime import UTC, datetime

    from django.contrib.auth import get_user_model
    from django.db.models.functions import TruncWeek
    from django.utils import timezone

    from portal.insights.aggregates import WeekStart

    monday = datetime(2026, 3, 2, tzinfo=UTC)
    moments = [monday + timedelta(hours=7 * step, microseconds=step) for step in range(60)]
    moments += [monday, monday - timedelta(microseconds=1), datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC)]
    for number, moment in enumerate(moments):
        UserFactory(username=f"joined-{number}", date_joined=moment)
    with timezone.override(zone):
        rows = (
            get_user_model()
            .objects.filter(username__startswith="joined-")
            .annotate(fast=WeekStart("date_joined"), django=TruncWeek("date_joined"))
            .values_list("date_joined", "fast", "django")
        )
        sql = str(rows.query)
        assert [(joined, fast) for joined, fast, _ in rows] == [(joined, slow) for joined, _, slow in rows]
    assert len(rows) == len(moments)
    assert {fast.weekday() for _, fast, _ in rows} == {0}
    if connection.vendor == "sqlite":  # the C path in UTC, Django's function elsewhere
        assert ("weekday 0" in sql) == (zone == "UTC")
