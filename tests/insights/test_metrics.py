"""/metrics: Prometheus text for operators, and who may scrape it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from portal.insights.choices import SweepRecoveryKind
from portal.insights.models import SweepRecovery
from portal.orders.choices import OrderStatus
from runbooks.choices import RunStatus
from tests.insights.conftest import make_order, make_run

TOKEN = "a-long-random-scrape-token-for-tests"


@pytest.fixture
def locked_down(settings):
    settings.DEBUG = False
    settings.SQUADRON_METRICS_TOKEN = ""
    settings.SQUADRON_METRICS_ALLOWED_IPS = []
    return settings


def samples(response) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


@pytest.mark.django_db
def test_with_nothing_configured_nobody_may_scrape_outside_debug(client, locked_down):
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")

    assert response.status_code == 403
    assert b"squadron_" not in response.content


@pytest.mark.django_db
def test_the_bearer_token_opens_metrics_and_a_wrong_one_does_not(client, locked_down):
    locked_down.SQUADRON_METRICS_TOKEN = TOKEN

    assert (
        client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code
        == 200
    )
    wrong = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer guess")
    assert wrong.status_code == 401
    assert wrong["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Token {TOKEN}").status_code == 401


@pytest.mark.django_db
def test_allowed_networks_may_scrape_without_a_token(client, locked_down):
    locked_down.SQUADRON_METRICS_ALLOWED_IPS = ["10.0.0.0/8", "192.0.2.7"]

    assert client.get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.8").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


@pytest.mark.django_db
def test_in_debug_localhost_may_scrape(client, settings):
    settings.DEBUG = True
    settings.SQUADRON_METRICS_ALLOWED_IPS = []

    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="198.51.100.1").status_code == 403


@pytest.mark.django_db
def test_metrics_are_not_cached_and_refuse_other_methods(client, settings):
    settings.DEBUG = True

    response = client.get("/metrics")

    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert client.post("/metrics").status_code == 405


@pytest.mark.django_db
def test_head_answers_like_get_without_a_body(client, locked_down):
    locked_down.SQUADRON_METRICS_TOKEN = TOKEN
    assert client.head("/metrics").status_code == 401, "HEAD is refused like GET without the token"
    response = client.head("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert response.content == b""


@pytest.mark.django_db
def test_every_status_of_every_product_has_a_series_zero_included(client, settings, automated, manual):
    """Series never appear with a product's first order of a status, nor
    vanish with its last: rate() and absent-data alerts stay sound."""
    settings.DEBUG = True
    make_order(automated, submitted=timezone.now(), status=OrderStatus.QUEUED)

    found = samples(client.get("/metrics"))

    orders = {labels: value for (name, labels), value in found.items() if name == "squadron_orders"}
    expected = {
        (("product", product), ("status", status))
        for product in ("vlan", "firewall-rule")
        for status in OrderStatus.values
    }
    assert set(orders) == expected
    assert orders[(("product", "vlan"), ("status", "queued"))] == 1
    assert sum(orders.values()) == 1


def test_a_malformed_allowed_network_stops_the_settings(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from portal.settings import _metrics_networks

    with pytest.raises(ImproperlyConfigured, match="not-an-ip"):
        _metrics_networks(["10.0.0.0/8", "not-an-ip"])


@pytest.mark.django_db
def test_metrics_report_orders_queues_run_durations_and_sweep_recoveries(client, settings, automated, manual):
    settings.DEBUG = True
    now = timezone.now()
    for status in (OrderStatus.SUCCEEDED, OrderStatus.SUCCEEDED, OrderStatus.FAILED):
        order = make_order(
            automated, submitted=now - timedelta(hours=3), status=status, lead=timedelta(minutes=5)
        )
        make_run(
            order,
            status=RunStatus.SUCCEEDED if status == OrderStatus.SUCCEEDED else RunStatus.FAILED,
            started=now - timedelta(hours=3),
            duration=timedelta(seconds=45 if status == OrderStatus.SUCCEEDED else 400),
        )
    make_order(automated, submitted=now - timedelta(minutes=10), status=OrderStatus.QUEUED)
    make_order(manual, submitted=now - timedelta(hours=2), status=OrderStatus.AWAITING_FULFILMENT)
    make_order(manual, submitted=now - timedelta(hours=1), status=OrderStatus.PENDING_APPROVAL)
    SweepRecovery.objects.create(kind=SweepRecoveryKind.LOST_RUN, count=4)

    found = samples(client.get("/metrics"))

    assert found[("squadron_orders", (("product", "vlan"), ("status", "succeeded")))] == 2
    assert found[("squadron_orders", (("product", "vlan"), ("status", "failed")))] == 1
    assert found[("squadron_orders", (("product", "firewall-rule"), ("status", "awaiting_fulfilment")))] == 1
    assert found[("squadron_queue_depth", (("queue", "queued"),))] == 1
    assert found[("squadron_queue_depth", (("queue", "pending_approval"),))] == 1
    assert found[("squadron_queue_depth", (("queue", "awaiting_fulfilment"),))] == 1
    assert 7100 < found[("squadron_queue_oldest_seconds", (("queue", "awaiting_fulfilment"),))] < 7300
    runbook = automated.runbook.slug
    succeeded = (("runbook", runbook), ("status", "succeeded"))
    assert found[("squadron_run_duration_seconds_bucket", (("le", "30.0"), *succeeded))] == 0
    assert found[("squadron_run_duration_seconds_bucket", (("le", "60.0"), *succeeded))] == 2
    assert found[("squadron_run_duration_seconds_bucket", (("le", "+Inf"), *succeeded))] == 2
    assert found[("squadron_run_duration_seconds_count", succeeded)] == 2
    assert found[("squadron_run_duration_seconds_sum", succeeded)] == 90
    failed = (("runbook", runbook), ("status", "failed"))
    assert found[("squadron_run_duration_seconds_bucket", (("le", "300.0"), *failed))] == 0
    assert found[("squadron_run_duration_seconds_bucket", (("le", "600.0"), *failed))] == 1
    assert found[("squadron_sweep_recoveries_total", (("kind", "lost_run"),))] == 4
    assert found[("squadron_runs_in_progress", ())] == 0
