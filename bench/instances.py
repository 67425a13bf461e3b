"""How fast My services and the instance API answer for a person who owns
many instances, in a big database.

    .venv/bin/python bench/instances.py                       # PostgreSQL
    .venv/bin/python bench/instances.py --database sqlite --instances 20000 --orders 50000

Builds a database of its own (PostgreSQL: ``squadron_bench_instances`` on
``$BENCH_POSTGRES_URL``, created and dropped here; SQLite: a temporary file;
``bench/helpers.py``) holding ``--instances`` instances of 20
products spread over 500 owners and ``--orders`` orders, then gives one
person 2,000 instances and times ``/instances/`` and ``GET /api/v1/instances/``
(first page, and filtered by state) through Django's test client with DEBUG
off; then gives them 10,000 and times the same again. The cost must not
grow with the number of instances: the same number of queries, and a
median within 20% of the first. Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import timedelta

from helpers import bench_database, bulk_insert, setup_django, time_request

#: A database of its own, so that this bench and bench/portal_pages.py may run at once.
BENCH_DATABASE = "squadron_bench_instances"
PRODUCTS = 20
OWNERS = 500
SIZES = (2_000, 10_000)


def seed(*, instances: int, orders: int) -> dict:
    """The background: products, owners, instances and orders; returns ids."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from catalogue.models import Category, Product
    from portal.instances.models import ServiceInstance
    from portal.orders.models import Order
    from squads.models import Squad

    began = time.monotonic()
    rnd = random.Random(15)
    squad = Squad.objects.create(slug="data", name="Data Squad")
    category = Category.objects.create(slug="data", name="Data")
    products = Product.objects.bulk_create(
        Product(
            slug=f"product-{number}",
            name=f"Product {number}",
            category=category,
            squad=squad,
            status="published",
            fulfilment="manual",
            instance=True,
            max_lifetime_days=90,
            unit_cost=40,
        )
        for number in range(PRODUCTS)
    )
    users = get_user_model()
    owners = users.objects.bulk_create(users(username=f"owner{number}") for number in range(OWNERS))
    heavy = users.objects.create(username="heavy")
    now = timezone.now()
    order_rows = (
        Order(
            requester=rnd.choice(owners),
            product=rnd.choice(products),
            product_version=1,
            squad=squad,
            fulfilment="manual",
            approval_policy="none",
            status="succeeded",
            created_at=now - timedelta(minutes=number),
        )
        for number in range(orders)
    )
    bulk_insert(Order, order_rows)
    bulk_insert(
        ServiceInstance,
        (_instance(rnd.choice(owners), rnd.choice(products), number, now) for number in range(instances)),
    )
    return {"heavy": heavy.pk, "products": [p.pk for p in products], "seconds": time.monotonic() - began}


def _instance(owner, product, number: int, now):  # type: ignore[no-untyped-def]
    from portal.instances.models import ServiceInstance

    return ServiceInstance(
        product=product,
        owner=owner,
        name=f"service-{number}",
        state="active" if number % 10 else "decommissioned",
        attributes={"size_gb": 20 + number % 100, "host": f"db{number % 50}.example.com"},
        expires_at=now + timedelta(days=1 + number % 90),
        created_at=now - timedelta(minutes=number),
    )


def give(heavy_id: int, products: list[int], count: int, offset: int) -> None:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from catalogue.models import Product
    from portal.instances.models import ServiceInstance

    heavy = get_user_model().objects.get(pk=heavy_id)
    by_id = Product.objects.in_bulk(products)
    now = timezone.now()
    bulk_insert(
        ServiceInstance,
        (
            _instance(heavy, by_id[products[number % len(products)]], offset + number, now)
            for number in range(count)
        ),
    )


def measure(heavy_id: int, repeat: int) -> list[dict]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(pk=heavy_id))
    pages = [
        ("My services, first page", "/instances/", {}),
        ("My services, failed only", "/instances/", {"state": "failed"}),
        ("GET /api/v1/instances/", "/api/v1/instances/", {}),
        ("GET /api/v1/instances/?state=active", "/api/v1/instances/", {"state": "active"}),
    ]
    return [time_request(client, name, url, params, repeat) for name, url, params in pages]


def run(database: str, args: argparse.Namespace) -> None:
    with bench_database(database, BENCH_DATABASE) as url:
        setup_django(url)
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0)
        data = seed(instances=args.instances, orders=args.orders)
        rows: dict[str, list[dict]] = {}
        given = 0
        for size in SIZES:
            give(data["heavy"], data["products"], size - given, offset=args.instances + given)
            given = size
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("ANALYZE")
            rows[f"{size:,}"] = measure(data["heavy"], args.repeat)
        print(
            f"\n### {connection.vendor}: {args.instances:,} instances, {args.orders:,} orders; "
            f"seeded in {data['seconds']:.0f} s; {args.repeat} timed requests each\n"
        )
        print("| request | 2,000 mine: median ms | queries | 10,000 mine: median ms | queries | ratio |")
        print("|---|---:|---:|---:|---:|---:|")
        small, large = rows["2,000"], rows["10,000"]
        for first, second in zip(small, large, strict=True):
            ratio = second["median"] / first["median"]
            print(
                f"| {first['page']} | {first['median']:.1f} | {len(first['sql'])} | "
                f"{second['median']:.1f} | {len(second['sql'])} | {ratio:.2f} |"
            )
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    run(parser.parse_args().database, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
