"""How fast the cost page answers over two years of 100,000 instances.

    .venv/bin/python bench/cost.py                                # PostgreSQL
    .venv/bin/python bench/cost.py --database sqlite --instances 20000

Builds a database of its own (PostgreSQL: ``squadron_bench_cost`` on
``$BENCH_POSTGRES_URL``, created and dropped here, as ``bench/portal_pages.py``
does; SQLite: a temporary file) holding 6 squads, 12 business units, 36
products with a unit cost (30 that make instances, 6 one-shot), 18 runbooks
(so replicated resources have playbooks to compare) and ``--instances``
instances created evenly over the last two years: a third of them
decommissioned after 1 to 300 days, one in ten unassigned, some past their
expiry. Each instance has its creation order, one in three an operation,
and the one-shot products ``--one-shot`` succeeded orders. Then it times,
through Django's test client with DEBUG off, ``/insights/cost/`` for the
last twelve months (the default) as a platform lead (everything: spend,
largest instances, idle, expired, replicated resources) and as a business
unit's member, one CSV and ``GET /api/v1/cost/?group_by=squad``; prints the
median and p95 of ``--repeat`` requests after a warm-up and the number of
queries, as a Markdown table. Target: the lead's page under 300 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal

import portal_pages
from portal_pages import postgres_admin, setup_django

BENCH_DATABASE = "squadron_bench_cost"
SQUADS = ["network", "compute", "identity", "data", "platform", "workplace"]
UNITS = 12
OWNERS = 2_000
DAYS = 730
PLAYBOOK = """\
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Check the request
      ansible.builtin.assert:
        that: {variable} is defined
    - name: Make it
      {module}:
        name: "{{{{ {variable} }}}}"
        state: present
    - name: Tell
      ansible.builtin.debug:
        msg: "done {{{{ {variable} }}}}"
"""
MODULES = ["community.general.lxc_container", "community.postgresql.postgresql_db", "kubernetes.core.k8s"]


def seed(*, instances: int, one_shot: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from catalogue.models import Category, Product
    from portal.consumption.models import BusinessUnit, BusinessUnitMembership
    from portal.instances.models import ServiceInstance
    from portal.orders.models import Order
    from runbooks.models import Runbook
    from runbooks.services import runbook_set_playbook
    from squads.choices import Role
    from squads.models import Membership, Squad

    began = time.monotonic()
    rnd = random.Random(16)
    now = timezone.now()
    squads = [Squad.objects.create(slug=slug, name=f"{slug.title()} Squad") for slug in SQUADS]
    shelves = [
        Category.objects.create(slug=slug, name=slug.title()) for slug in ("compute", "data", "network")
    ]
    units = BusinessUnit.objects.bulk_create(
        BusinessUnit(slug=f"unit-{number}", name=f"Unit {number}", cost_centre=f"CC-{100 + number}")
        for number in range(UNITS)
    )
    users = get_user_model()
    owners = users.objects.bulk_create(users(username=f"owner{number}") for number in range(OWNERS))
    lead = users.objects.create(username="lead")
    Membership.objects.create(user=lead, squad=squads[0], role=Role.PLATFORM_LEAD)
    unit_member = users.objects.create(username="unit-member")
    BusinessUnitMembership.objects.create(user=unit_member, business_unit=units[0])
    runbooks = []
    for number in range(18):
        squad = squads[number % len(squads)]
        runbook = Runbook.objects.create(slug=f"runbook-{number}", name=f"Runbook {number}", squad=squad)
        module = MODULES[number % len(MODULES)]
        runbook_set_playbook(
            runbook=runbook, content=PLAYBOOK.format(module=module, variable=f"v{number % 4}")
        )
        runbooks.append(runbook)
    products = []
    for number in range(36):
        squad = squads[number % len(squads)]
        makes_instances = number < 30
        own_runbooks = [runbook for runbook in runbooks if runbook.squad_id == squad.pk]
        products.append(
            Product.objects.create(
                slug=f"product-{number}",
                name=f"Product {number}",
                category=shelves[number % len(shelves)],
                squad=squad,
                status="published",
                runbook=own_runbooks[number % len(own_runbooks)],
                instance=makes_instances,
                max_lifetime_days=180 if makes_instances and number % 4 == 0 else None,
                unit_cost=Decimal(rnd.choice(["12.50", "25.00", "40.00", "85.00", "310.00"])),
                form_schema={
                    "type": "object",
                    "properties": {f"field{(number + k) % 9}": {"type": "string"} for k in range(3)},
                },
            )
        )
    instance_products, one_shot_products = products[:30], products[30:]
    by_id = {product.pk: product for product in products}
    rows = []
    for number in range(instances):
        created = now - timedelta(days=DAYS * number / instances, minutes=rnd.randint(0, 1440))
        product = rnd.choice(instance_products)
        decommissioned = created + timedelta(days=rnd.randint(1, 300)) if number % 3 == 0 else None
        if decommissioned and decommissioned > now:
            decommissioned = None
        expires = None
        if product.max_lifetime_days and decommissioned is None:
            expires = created + timedelta(days=product.max_lifetime_days if number % 50 else 1)
            if expires < now and number % 50:
                expires = now + timedelta(days=rnd.randint(1, 90))
        rows.append(
            ServiceInstance(
                product=product,
                owner=rnd.choice(owners),
                name=f"service-{number}",
                state="decommissioned" if decommissioned else "active",
                business_unit=None if number % 10 == 0 else rnd.choice(units),
                attributes={"size_gb": 20 + number % 100, "vcpus": 1 + number % 8},
                expires_at=expires,
                created_at=created,
                decommissioned_at=decommissioned,
            )
        )
    _bulk(ServiceInstance, rows)
    orders = []
    for instance in ServiceInstance.objects.only(
        "pk", "product_id", "business_unit_id", "owner_id", "created_at"
    ):
        orders.append(_order(instance.product_id, instance, instance.created_at, by_id))
        if instance.pk % 3 == 0:
            later = instance.created_at + timedelta(days=rnd.randint(1, 400))
            if later < now:
                orders.append(_order(instance.product_id, instance, later, by_id))
    for number in range(one_shot):
        product = rnd.choice(one_shot_products)
        placed = now - timedelta(days=DAYS * number / one_shot)
        orders.append(
            _order(product.pk, None, placed, by_id, unit=rnd.choice([None, *units]), owner=rnd.choice(owners))
        )
    _bulk(Order, orders)
    return {
        "lead": lead.pk,
        "unit_member": unit_member.pk,
        "orders": len(orders),
        "seconds": time.monotonic() - began,
    }


def _order(product_id, instance, placed, products, *, unit=None, owner=None):  # type: ignore[no-untyped-def]
    from portal.orders.models import Order

    product = products[product_id]
    return Order(
        requester_id=owner.pk if owner else instance.owner_id,
        product_id=product_id,
        product_version=1,
        squad_id=product.squad_id,
        fulfilment="automated",
        approval_policy="none",
        status="succeeded",
        business_unit_id=unit.pk if unit else (instance.business_unit_id if instance else None),
        instance=instance,
        created_at=placed,
        finished_at=placed + timedelta(minutes=3),
    )


def _bulk(model, rows, batch: int = 5_000) -> None:  # type: ignore[no-untyped-def]
    for start in range(0, len(rows), batch):
        model.objects.bulk_create(rows[start : start + batch])


def measure(user_id: int, url: str, params: dict, repeat: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections, connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from portal.integrations.tokens import token_create

    user = get_user_model().objects.get(pk=user_id)
    client = Client()
    client.force_login(user)
    headers = {}
    if url.startswith("/api/"):
        headers["HTTP_AUTHORIZATION"] = f"Token {token_create(user=user, name=f'bench {time.time()}').key}"
    for _ in range(3):
        response = client.get(url, params, **headers)
        assert response.status_code == 200, (url, response.status_code)
    request_started.disconnect(reset_queries)
    request_finished.disconnect(close_old_connections)
    try:
        with CaptureQueriesContext(connection) as queries:
            client.get(url, params, **headers)
    finally:
        request_finished.connect(close_old_connections)
        request_started.connect(reset_queries)
    counted = len(queries.captured_queries)  # now: the next requests empty the log
    timings = []
    for _ in range(repeat):
        began = time.perf_counter()
        client.get(url, params, **headers)
        timings.append((time.perf_counter() - began) * 1000)
    timings.sort()
    return {
        "median": statistics.median(timings),
        "p95": timings[max(0, round(len(timings) * 0.95) - 1)],
        "queries": counted,
    }


def reused() -> dict:
    """The ids ``seed`` returns, from a database a ``--keep`` run left."""
    from django.contrib.auth import get_user_model

    from portal.orders.models import Order

    users = get_user_model().objects
    return {
        "lead": users.get(username="lead").pk,
        "unit_member": users.get(username="unit-member").pk,
        "orders": Order.objects.count(),
        "seconds": 0,
    }


def run(args: argparse.Namespace) -> None:
    if args.database == "postgres":
        if not args.reuse:
            postgres_admin(f"DROP DATABASE IF EXISTS {BENCH_DATABASE}")
            postgres_admin(f"CREATE DATABASE {BENCH_DATABASE}")
        portal_pages.BENCH_DATABASE = BENCH_DATABASE
        url = portal_pages.postgres_bench_url()
    else:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='squadron-bench-')}/bench.sqlite3"
    try:
        setup_django(url)
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection

        # The bench's token requests would hit the API's throttle.
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"token": None, "user": None},
        }
        call_command("migrate", verbosity=0)
        data = reused() if args.reuse else seed(instances=args.instances, one_shot=args.one_shot)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
        cases = [
            ("/insights/cost/ as a platform lead (everything)", data["lead"], "/insights/cost/", {}),
            ("/insights/cost/ as a business unit's member", data["unit_member"], "/insights/cost/", {}),
            ("/insights/cost/utilization/ (lead)", data["lead"], "/insights/cost/utilization/", {}),
            ("/insights/cost/products.csv (lead)", data["lead"], "/insights/cost/products.csv", {}),
            ("GET /api/v1/cost/?group_by=squad (lead)", data["lead"], "/api/v1/cost/", {"group_by": "squad"}),
        ]
        results = [(name, measure(user, path, params, args.repeat)) for name, user, path, params in cases]
        load = os.getloadavg()
        print(
            f"\n### {connection.vendor}: {args.instances:,} instances over two years, "
            f"{data['orders']:,} orders; "
            f"seeded in {data['seconds']:.0f} s; {args.repeat} timed requests each; "
            f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}\n"
        )
        print("| request | median ms | p95 ms | queries |")
        print("|---|---:|---:|---:|")
        for name, result in results:
            print(f"| {name} | {result['median']:.1f} | {result['p95']:.1f} | {result['queries']} |")
        connection.close()
    finally:
        if args.database == "postgres" and not (args.keep or args.reuse):
            postgres_admin(f"DROP DATABASE IF EXISTS {BENCH_DATABASE}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--one-shot", type=int, default=50_000, help="Succeeded orders of one-shot products.")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="Keep the PostgreSQL database afterwards.")
    parser.add_argument("--reuse", action="store_true", help="Measure the database a --keep run left.")
    run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
