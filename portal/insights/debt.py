"""Technical debt: a score per runbook (and per manual product), explained
item by item, so a squad sees what to pay off first and why.

Each item is a fact with the points it adds:

================================  ===================================================
failure rate                      40 x share of runs that failed in the last 30 days
                                  (at least 3 finished runs)
failure trend                     +10 when that share rose by 10 points or more
                                  against the 30 days before
unchanged while failing           1 per week since the playbook last changed
                                  (up to 20), when at least 20 % of its runs fail
deprecation warnings              5 + 5 per distinct warning (up to 20) that Ansible
                                  printed in runs of the last 30 days
no check mode                     5: approvers cannot preview a dry run
form fields never used            2 each (up to 10): the form asks for nothing
variables no field provides       8 each (up to 24): the run fails or guesses
heavy manual demand               hours of hands-on work in 30 days (5 to 40), for a
                                  manual product with at least 10 orders
register items                    2 / 5 / 10 / 20 per open item by severity
could not be analysed             5: the playbook cannot be read (invalid YAML,
                                  anchors or aliases, too large), so neither can
                                  its form be checked against it
================================  ===================================================
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from catalogue.checks import form_fit
from catalogue.choices import Fulfilment, ProductStatus
from catalogue.models import Product
from portal.insights.choices import OPEN_DEBT_STATUSES, SEVERITY_POINTS, SEVERITY_RANK
from portal.insights.models import DebtItem
from portal.orders.models import Order
from portal.timespans import MICROSECONDS, Elapsed
from runbooks.analysis import analyse_playbook
from runbooks.choices import RunStatus
from runbooks.models import Run, Runbook, RunEvent

RECENT_DAYS = 30
MIN_RUNS = 3
FAILURE_POINTS = 40
TREND_RISE = 0.10
TREND_POINTS = 10
STALE_FAILURE_RATE = 0.20
STALE_AFTER_DAYS = 14
STALE_MAX_POINTS = 20
DEPRECATION_BASE = 5
DEPRECATION_EACH = 5
DEPRECATION_MAX = 20
NO_CHECK_MODE_POINTS = 5
UNUSED_FIELD_POINTS = 2
UNUSED_FIELD_MAX = 10
MISSING_VARIABLE_POINTS = 8
MISSING_VARIABLE_MAX = 24
NOT_ANALYSED_POINTS = 5
HEAVY_DEMAND_ORDERS = 10
HEAVY_DEMAND_MIN = 5
HEAVY_DEMAND_MAX = 40
#: How many matching events are read to quote the warnings (bounded work).
DEPRECATION_SAMPLE = 300
DEPRECATION_MARK = "[DEPRECATION WARNING]"

_RUN_OUTCOMES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.LOST)
_RUN_FAILURES = (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.LOST)
_WARNING_LINE = re.compile(r"\[DEPRECATION WARNING\]:?\s*(.+)")


@dataclass
class DebtFactor:
    """One reason a subject carries debt, and what it adds to its score."""

    key: str
    label: str
    detail: str
    points: int


@dataclass
class DebtSubject:
    """A runbook (or a manual product without one) with its debt."""

    kind: str  # "runbook" or "product"
    name: str
    squad: Any
    products: list[Product]
    runbook: Runbook | None = None
    product: Product | None = None
    factors: list[DebtFactor] = field(default_factory=list)
    register: list[DebtItem] = field(default_factory=list)

    @property
    def score(self) -> int:
        return sum(factor.points for factor in self.factors)

    @property
    def admin_url(self) -> str:
        if self.runbook is not None:
            return reverse("admin:runbooks_runbook_change", args=[self.runbook.pk])
        assert self.product is not None
        return reverse("admin:catalogue_product_change", args=[self.product.pk])

    @property
    def slug(self) -> str:
        if self.runbook is not None:
            return self.runbook.slug
        assert self.product is not None
        return self.product.slug

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "slug": self.slug,
            "name": self.name,
            "squad": self.squad.slug,
            "products": [product.slug for product in self.products],
            "score": self.score,
            "factors": [
                {"key": factor.key, "label": factor.label, "detail": factor.detail, "points": factor.points}
                for factor in self.factors
            ],
        }


def _percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def _run_stats(runbook_ids: list[int], now: datetime) -> dict[int, dict[str, int]]:
    recent = Q(finished_at__gte=now - timedelta(days=RECENT_DAYS))
    previous = Q(finished_at__lt=now - timedelta(days=RECENT_DAYS))
    failed = Q(status__in=_RUN_FAILURES)
    rows = (
        Run.objects.filter(
            runbook_version__runbook_id__in=runbook_ids,
            check_mode=False,
            status__in=_RUN_OUTCOMES,
            finished_at__gte=now - timedelta(days=2 * RECENT_DAYS),
            finished_at__lte=now,
        )
        .order_by()
        .values("runbook_version__runbook_id")
        .annotate(
            recent=Count("pk", filter=recent),
            recent_failed=Count("pk", filter=recent & failed),
            previous=Count("pk", filter=previous),
            previous_failed=Count("pk", filter=previous & failed),
        )
    )
    return {row["runbook_version__runbook_id"]: row for row in rows}


def _deprecations(runbook_ids: list[int], now: datetime) -> dict[int, tuple[int, list[str]]]:
    """Per runbook: runs in the last 30 days whose events carry an Ansible
    deprecation warning, and the distinct warnings (two queries)."""
    events = RunEvent.objects.filter(
        run__runbook_version__runbook_id__in=runbook_ids,
        run__created_at__gte=now - timedelta(days=RECENT_DAYS),
        run__created_at__lte=now,
        stdout__contains=DEPRECATION_MARK,
    )
    counts = dict(
        events.order_by()
        .values_list("run__runbook_version__runbook_id")
        .annotate(runs=Count("run_id", distinct=True))
    )
    messages: dict[int, set[str]] = defaultdict(set)
    for runbook_id, stdout in events.order_by("-run_id", "counter").values_list(
        "run__runbook_version__runbook_id", "stdout"
    )[:DEPRECATION_SAMPLE]:
        for match in _WARNING_LINE.finditer(stdout):
            messages[runbook_id].add(match.group(1).strip()[:200])
    return {
        runbook_id: (runs, sorted(messages.get(runbook_id, set()))) for runbook_id, runs in counts.items()
    }


def _manual_demand(product_ids: list[int], now: datetime) -> dict[int, dict[str, Any]]:
    rows = (
        Order.objects.filter(
            product_id__in=product_ids,
            fulfilment=Fulfilment.MANUAL,
            created_at__gte=now - timedelta(days=RECENT_DAYS),
            created_at__lt=now,
        )
        .annotate(_work=Elapsed("finished_at", "claimed_at"))
        .order_by()
        .values("product_id")
        .annotate(orders=Count("pk"), work=Coalesce(Sum("_work"), 0))
    )
    return {row["product_id"]: row for row in rows}


def _runbook_factors(
    runbook: Runbook, stats: dict[str, int] | None, deprecation: tuple[int, list[str]] | None, now: datetime
) -> list[DebtFactor]:
    factors, rate = _failure_factors(stats)
    version = runbook.current_version
    if rate is not None and rate >= STALE_FAILURE_RATE and version is not None:
        days = (now - version.created_at).days
        if days >= STALE_AFTER_DAYS:
            factors.append(
                DebtFactor(
                    "stale_while_failing",
                    "Unchanged while failing",
                    f"The playbook last changed {days} days ago (version {version.number}) "
                    f"and {_percent(rate)} of its runs fail.",
                    min(STALE_MAX_POINTS, days // 7),
                )
            )
    if deprecation:
        factors.append(_deprecation_factor(*deprecation))
    if not runbook.supports_check_mode:
        factors.append(
            DebtFactor(
                "no_check_mode",
                "No check mode",
                "The runbook does not support check mode: approvers cannot preview what it would change.",
                NO_CHECK_MODE_POINTS,
            )
        )
    if version is not None:
        factors.extend(_form_factors(runbook, version.content))
    return factors


def _failure_factors(stats: dict[str, int] | None) -> tuple[list[DebtFactor], float | None]:
    """The factors of a runbook's recent failures, and its recent failure
    rate (None with too few runs to say)."""
    if not stats or stats["recent"] < MIN_RUNS:
        return [], None
    factors = []
    rate = stats["recent_failed"] / stats["recent"]
    if stats["recent_failed"]:
        factors.append(
            DebtFactor(
                "failure_rate",
                "Failure rate",
                f"{stats['recent_failed']} of its {stats['recent']} runs in the last {RECENT_DAYS} days "
                f"failed ({_percent(rate)}).",
                round(FAILURE_POINTS * rate),
            )
        )
    if stats["previous"] >= MIN_RUNS:
        before = stats["previous_failed"] / stats["previous"]
        if rate - before >= TREND_RISE - 1e-9:
            factors.append(
                DebtFactor(
                    "failure_trend",
                    "Failing more often",
                    f"The failure rate rose from {_percent(before)} to {_percent(rate)} "
                    f"against the {RECENT_DAYS} days before.",
                    TREND_POINTS,
                )
            )
    return factors, rate


def _deprecation_factor(runs: int, messages: list[str]) -> DebtFactor:
    quoted = "; ".join(messages[:3]) + (" …" if len(messages) > 3 else "")
    return DebtFactor(
        "deprecations",
        "Deprecation warnings",
        f"Ansible printed deprecation warnings in {runs} run(s) in the last {RECENT_DAYS} days"
        + (f": {quoted}" if quoted else "."),
        min(DEPRECATION_MAX, DEPRECATION_BASE + DEPRECATION_EACH * len(messages)),
    )


def _form_factors(runbook: Runbook, content: str) -> list[DebtFactor]:
    features = analyse_playbook(content)
    if not features.valid:
        return [
            DebtFactor(
                "not_analysed",
                "Could not be analysed",
                f"The playbook could not be analysed: {features.error}.",
                NOT_ANALYSED_POINTS,
            )
        ]
    factors = []
    unused_points = missing_points = 0
    for product in runbook.products.all():
        if product.status == ProductStatus.RETIRED:
            continue
        # The same comparison the admin warns with before publishing.
        fit = form_fit(product.form_schema, content)
        if fit.unused:
            points = min(UNUSED_FIELD_MAX - unused_points, UNUSED_FIELD_POINTS * len(fit.unused))
            unused_points += points
            factors.append(
                DebtFactor(
                    "unused_fields",
                    "Form fields never used",
                    f"{product.name} asks for {', '.join(fit.unused)}, which the playbook never reads.",
                    points,
                )
            )
        if fit.missing:
            points = min(MISSING_VARIABLE_MAX - missing_points, MISSING_VARIABLE_POINTS * len(fit.missing))
            missing_points += points
            factors.append(
                DebtFactor(
                    "missing_variables",
                    "Variables no field provides",
                    f"The playbook reads {', '.join(fit.missing)} without a default, "
                    f"and no field of {product.name}'s form provides it.",
                    points,
                )
            )
    return factors


def _register_factor(items: list[DebtItem]) -> DebtFactor | None:
    if not items:
        return None
    points = sum(SEVERITY_POINTS[item.severity] for item in items)
    listed = "; ".join(f"{item.title} ({item.get_severity_display().lower()})" for item in items[:5])
    more = f" and {len(items) - 5} more" if len(items) > 5 else ""
    return DebtFactor("register", "Debt register", f"{len(items)} open item(s): {listed}{more}.", points)


def debt_subjects(*, squad_id: int | None = None, now: datetime | None = None) -> list[DebtSubject]:
    """The squad's (or everyone's) runbooks and manual products with their
    debt, worst first. A bounded number of queries, whatever their number."""
    now = now or timezone.now()
    runbooks = Runbook.objects.select_related("squad", "current_version").prefetch_related("products")
    products = Product.objects.select_related("squad", "runbook").exclude(status=ProductStatus.RETIRED)
    register = DebtItem.objects.filter(status__in=list(OPEN_DEBT_STATUSES)).select_related("product", "squad")
    if squad_id is not None:
        runbooks = runbooks.filter(squad_id=squad_id)
        products = products.filter(squad_id=squad_id)
        register = register.filter(squad_id=squad_id)
    runbook_list = list(runbooks)
    runbook_ids = [runbook.pk for runbook in runbook_list]
    stats = _run_stats(runbook_ids, now)
    deprecations = _deprecations(runbook_ids, now)
    product_list = list(products)
    manual = [product for product in product_list if product.fulfilment == Fulfilment.MANUAL]
    demand = _manual_demand([product.pk for product in manual], now)
    items_by_product: dict[int, list[DebtItem]] = defaultdict(list)
    for item in sorted(register, key=lambda item: (SEVERITY_RANK[item.severity], item.created_at)):
        items_by_product[item.product_id].append(item)

    subjects: dict[tuple[str, int], DebtSubject] = {}
    for runbook in runbook_list:
        subject = DebtSubject(
            kind="runbook",
            name=runbook.name,
            squad=runbook.squad,
            products=[
                product for product in runbook.products.all() if product.status != ProductStatus.RETIRED
            ],
            runbook=runbook,
        )
        subject.factors = _runbook_factors(runbook, stats.get(runbook.pk), deprecations.get(runbook.pk), now)
        subjects[("runbook", runbook.pk)] = subject
    for product in product_list:
        subject = _subject_of(product, subjects)
        demand_factor = _demand_factor(product, demand)
        if demand_factor:
            subject.factors.append(demand_factor)
        subject.register.extend(items_by_product.get(product.pk, []))
    for subject in subjects.values():
        factor = _register_factor(subject.register)
        if factor:
            subject.factors.append(factor)
    ranked = [subject for subject in subjects.values() if subject.factors or subject.kind == "runbook"]
    ranked.sort(key=lambda subject: (-subject.score, subject.name))
    return ranked


def debt_register(*, squad_id: int | None = None) -> list[DebtItem]:
    """The register, open items first and worst first within them."""
    items = DebtItem.objects.select_related("product", "squad", "created_by")
    if squad_id is not None:
        items = items.filter(squad_id=squad_id)
    return sorted(
        items,
        key=lambda item: (
            item.status not in OPEN_DEBT_STATUSES,
            SEVERITY_RANK[item.severity],
            -item.created_at.timestamp(),
        ),
    )


def _subject_of(product: Product, subjects: dict[tuple[str, int], DebtSubject]) -> DebtSubject:
    """Where a product's debt is counted: with its runbook when a runbook
    fulfils it, else on its own (manual products, and those whose runbook is
    not among the subjects)."""
    if (
        product.runbook_id
        and ("runbook", product.runbook_id) in subjects
        and product.fulfilment != Fulfilment.MANUAL
    ):
        return subjects[("runbook", product.runbook_id)]
    return subjects.setdefault(
        ("product", product.pk),
        DebtSubject(
            kind="product", name=product.name, squad=product.squad, products=[product], product=product
        ),
    )


def _demand_factor(product: Product, demand: dict[int, dict[str, Any]]) -> DebtFactor | None:
    if product.fulfilment != Fulfilment.MANUAL or product.pk not in demand:
        return None
    row = demand[product.pk]
    if row["orders"] < HEAVY_DEMAND_ORDERS:
        return None
    hours = row["work"] / MICROSECONDS / 3600
    return DebtFactor(
        "heavy_manual_demand",
        "Heavy manual demand",
        f"{row['orders']} orders in the last {RECENT_DAYS} days, fulfilled by hand "
        f"({hours:.1f} h of hands-on work): automate it.",
        max(HEAVY_DEMAND_MIN, min(HEAVY_DEMAND_MAX, round(hours))),
    )
