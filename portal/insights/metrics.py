"""``/metrics``: Prometheus text for operators, read from the database at
scrape time by a custom collector (so every web process exports the same
numbers, and no process-local counter is lost on restart).

Exported:

- ``squadron_orders{status,product}``: orders by current status and product,
  every status of every product (zero included);
- ``squadron_queue_depth{queue}`` and ``squadron_queue_oldest_seconds{queue}``:
  orders queued for a worker, waiting for approval, awaiting manual
  fulfilment, and how long the oldest has waited;
- ``squadron_runs_in_progress``: runs a worker is executing now;
- ``squadron_run_duration_seconds{runbook,status}``: histogram of finished
  runs (check-mode dry runs excluded);
- ``squadron_sweep_recoveries_total{kind}``: what the periodic sweep
  recovered (lost runs, orders re-dispatched...).

Access: a bearer token (``SQUADRON_METRICS_TOKEN``) or a client address in
``SQUADRON_METRICS_ALLOWED_IPS``; with DEBUG on, localhost too. Anyone else
is refused: the numbers describe the business.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db.models import Count, Min, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from catalogue.models import Product
from portal.insights.models import SweepRecovery
from portal.orders.choices import OrderStatus
from portal.orders.models import Order
from portal.timespans import MICROSECONDS, Elapsed
from runbooks.choices import TERMINAL_RUN_STATUSES, RunStatus
from runbooks.models import Run

#: Upper bounds (seconds) of the run duration histogram's buckets.
RUN_DURATION_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
QUEUES = {
    "queued": OrderStatus.QUEUED,
    "pending_approval": OrderStatus.PENDING_APPROVAL,
    "awaiting_fulfilment": OrderStatus.AWAITING_FULFILMENT,
}


class SquadronCollector:
    """Reads the numbers from the database on every scrape (six queries)."""

    def describe(self) -> list[Metric]:
        # Nothing to describe ahead of a scrape: describing would query.
        return []

    def collect(self) -> Iterator[Metric]:
        yield self._orders()
        yield from self._queues()
        yield self._runs_in_progress()
        yield self._run_durations()
        yield self._sweep_recoveries()

    def _orders(self) -> Metric:
        family = GaugeMetricFamily(
            "squadron_orders", "Orders by current status and product.", labels=["status", "product"]
        )
        rows = Order.objects.order_by().values_list("status", "product__slug").annotate(count=Count("pk"))
        counts = {(status, product): count for status, product, count in rows}
        # Every status of every product, zero included: a series that appears
        # with its first order and vanishes with its last breaks rate() and
        # alerts on absent data.
        products = set(Product.objects.values_list("slug", flat=True)) | {product for _, product in counts}
        for product in sorted(products):
            for status in OrderStatus.values:
                family.add_metric([status, product], counts.get((status, product), 0))
        return family

    def _queues(self) -> Iterator[Metric]:
        now = timezone.now()
        aggregates: dict[str, Any] = {}
        for name, status in QUEUES.items():
            aggregates[f"{name}_count"] = Count("pk", filter=Q(status=status))
            aggregates[f"{name}_oldest"] = Min("created_at", filter=Q(status=status))
        row = Order.objects.filter(status__in=list(QUEUES.values())).order_by().aggregate(**aggregates)
        depth = GaugeMetricFamily(
            "squadron_queue_depth",
            "Orders waiting: queued for a worker, pending approval, awaiting manual fulfilment.",
            labels=["queue"],
        )
        oldest = GaugeMetricFamily(
            "squadron_queue_oldest_seconds",
            "Age of the oldest order waiting in each queue (0 when empty).",
            labels=["queue"],
        )
        for name in QUEUES:
            depth.add_metric([name], row[f"{name}_count"])
            since = row[f"{name}_oldest"]
            oldest.add_metric([name], (now - since).total_seconds() if since else 0.0)
        yield depth
        yield oldest

    def _runs_in_progress(self) -> Metric:
        return GaugeMetricFamily(
            "squadron_runs_in_progress",
            "Runs a worker is executing now.",
            value=Run.objects.filter(status=RunStatus.RUNNING).count(),
        )

    def _run_durations(self) -> Metric:
        family = HistogramMetricFamily(
            "squadron_run_duration_seconds",
            "Duration of finished runbook runs (dry runs excluded).",
            labels=["runbook", "status"],
        )
        buckets = {
            f"le_{index}": Count("pk", filter=Q(_duration__lte=bound * MICROSECONDS))
            for index, bound in enumerate(RUN_DURATION_BUCKETS)
        }
        rows = (
            Run.objects.filter(
                check_mode=False,
                status__in=list(TERMINAL_RUN_STATUSES),
                started_at__isnull=False,
                finished_at__isnull=False,
            )
            .annotate(_duration=Elapsed("finished_at", "started_at"))
            .order_by()
            .values("runbook_version__runbook__slug", "status")
            .annotate(total=Count("pk"), seconds=Sum("_duration"), **buckets)
        )
        for row in rows:
            cumulative = [
                (str(float(bound)), row[f"le_{index}"]) for index, bound in enumerate(RUN_DURATION_BUCKETS)
            ]
            cumulative.append(("+Inf", row["total"]))
            family.add_metric(
                [row["runbook_version__runbook__slug"], row["status"]],
                cumulative,
                sum_value=(row["seconds"] or 0) / MICROSECONDS,
            )
        return family

    def _sweep_recoveries(self) -> Metric:
        family = CounterMetricFamily(
            "squadron_sweep_recoveries",
            "What the periodic sweep recovered, by kind, since the database was created.",
            labels=["kind"],
        )
        for kind, count in SweepRecovery.objects.values_list("kind", "count"):
            family.add_metric([kind], count)
        return family


REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(SquadronCollector())


def _client_allowed(request: HttpRequest) -> bool:
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if settings.DEBUG and address.is_loopback:
        return True
    return any(
        address in ipaddress.ip_network(network, strict=False)
        for network in settings.SQUADRON_METRICS_ALLOWED_IPS
    )


def _token_presented(request: HttpRequest) -> bool:
    expected = settings.SQUADRON_METRICS_TOKEN
    scheme, _, presented = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if not expected or scheme.lower() != "bearer" or not presented:
        return False
    return hmac.compare_digest(presented.strip().encode(), expected.encode())


@require_safe
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not (_token_presented(request) or _client_allowed(request)):
        if settings.SQUADRON_METRICS_TOKEN:
            response = HttpResponse(
                "A valid bearer token is required.\n", status=401, content_type="text/plain"
            )
            response["WWW-Authenticate"] = 'Bearer realm="squadron-metrics"'
            return response
        return HttpResponse(
            "Metrics are not available to this client.\n", status=403, content_type="text/plain"
        )
    if request.method == "HEAD":
        # What a GET answers, without the body (and without its queries).
        return HttpResponse(content_type=CONTENT_TYPE_PLAIN_0_0_4)
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_PLAIN_0_0_4)
