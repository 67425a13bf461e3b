"""How fast the portal's pages answer with a big catalogue and a long history.

    .venv/bin/python bench/portal_pages.py                  # PostgreSQL, then SQLite
    .venv/bin/python bench/portal_pages.py --database postgres --orders 100000

Builds a database of its own (PostgreSQL: ``squadron_bench_ui`` on
``$BENCH_POSTGRES_URL``, default postgres://postgres@127.0.0.1:5432/postgres,
created and dropped here; SQLite: a temporary file), fills it with 1,000
published products and 100,000 orders (a fifth of them one heavy requester's),
a 50,000-event run log, and times each page through Django's test client with
DEBUG off: the whole request, middleware, queries and template rendering,
without the network. Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import html
import os
import random
import re
import subprocess
import sys
import time
from datetime import timedelta
from urllib.parse import parse_qsl

from helpers import bench_database, setup_django, time_request

BENCH_DATABASE = "squadron_bench_ui"

ORDER_FORM = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "title": "Name"}, "size": {"type": "integer", "default": 2}},
}
PRODUCT_FORM = {
    "type": "object",
    "required": ["hostname", "owner_email"],
    "properties": {
        "hostname": {"type": "string", "pattern": "^[a-z][a-z0-9-]{1,30}$", "title": "Host name"},
        "os": {"type": "string", "enum": ["ubuntu-24.04", "debian-12", "rhel-9"], "default": "debian-12"},
        "cpu": {"type": "integer", "minimum": 1, "maximum": 32, "default": 2},
        "backup": {"type": "boolean", "default": True},
        "owner_email": {"type": "string", "format": "email"},
        "packages": {"type": "array", "items": {"type": "string", "enum": ["nginx", "git", "htop"]}},
        "token": {"type": "string", "x-secret": True},
    },
}
WORDS = [
    *("vlan", "dns", "firewall", "certificate", "database", "namespace", "backup", "restore", "account"),
    *("access", "storage", "queue", "cache", "gateway", "proxy", "mailbox", "printer", "laptop", "licence"),
]


# --- Inside the measuring process --------------------------------------------------


def seed(*, products: int, orders: int, log_events: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from catalogue.models import Category, Product
    from portal.orders.choices import OrderStatus
    from portal.orders.models import Order, OrderEvent, OrderRun
    from runbooks.models import Run, Runbook, RunEvent
    from runbooks.services import runbook_set_playbook
    from squads.choices import Role
    from squads.models import Membership, Squad

    started = time.monotonic()
    call_command("migrate", verbosity=0)
    rng = random.Random(4)
    users = get_user_model()
    heavy = users.objects.create_user("heavy", first_name="Heavy", last_name="Requester")
    others = users.objects.bulk_create([users(username=f"user{n}") for n in range(200)], batch_size=200)
    squads = Squad.objects.bulk_create([Squad(slug=f"squad-{n}", name=f"Squad {n}") for n in range(20)])
    approver = users.objects.create_user("approver")
    Membership.objects.create(user=approver, squad=squads[0], role=Role.PRODUCT_OWNER)
    categories = Category.objects.bulk_create(
        [Category(slug=f"category-{n}", name=f"Category {n}", position=n) for n in range(12)]
    )
    runbooks = []
    for squad in squads:
        runbook = Runbook.objects.create(
            slug=f"runbook-{squad.slug}", name=f"Runbook {squad.name}", squad=squad
        )
        runbook_set_playbook(runbook=runbook, content="- hosts: localhost\n  tasks: []\n")
        runbook.refresh_from_db()
        runbooks.append(runbook)
    catalogue = Product.objects.bulk_create(
        [
            Product(
                slug=f"product-{n}",
                name=f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} {n}",
                summary=" ".join(rng.choice(WORDS) for _ in range(10)),
                description="A **product** with a table:\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
                tags=", ".join(rng.sample(WORDS, 3)),
                category=categories[n % len(categories)],
                squad=squads[n % len(squads)],
                runbook=runbooks[n % len(squads)],
                status="published",
                form_schema=PRODUCT_FORM,
                sla_minutes=rng.choice([15, 30, 60, 240, 2880]),
            )
            for n in range(products)
        ],
        batch_size=500,
    )
    for product in catalogue[:200]:
        product.depends_on.add(*rng.sample(catalogue, 2))

    # Spread creation over a year: switch off auto_now_add while loading.
    created_field = Order._meta.get_field("created_at")
    created_field.auto_now_add = False
    now = timezone.now()
    statuses = [OrderStatus.SUCCEEDED] * 80 + [OrderStatus.FAILED] * 8 + [OrderStatus.CANCELLED] * 6
    statuses += [OrderStatus.REJECTED] * 2 + [OrderStatus.QUEUED, OrderStatus.PENDING_APPROVAL] * 2
    batch: list = []
    for n in range(orders):
        requester = heavy if n % 5 == 0 else others[n % len(others)]
        product = catalogue[rng.randrange(len(catalogue))]
        created = now - timedelta(minutes=(orders - n) * 5)
        status = rng.choice(statuses)
        finished = (
            created + timedelta(minutes=rng.randint(1, 300))
            if status
            in (OrderStatus.SUCCEEDED, OrderStatus.FAILED, OrderStatus.CANCELLED, OrderStatus.REJECTED)
            else None
        )
        batch.append(
            Order(
                requester=requester,
                product=product,
                product_version=1,
                squad_id=product.squad_id,
                fulfilment="automated",
                approval_policy="none",
                form_schema=ORDER_FORM,
                inputs={"name": f"thing-{n}", "size": 2},
                status=status,
                created_at=created,
                updated_at=created,
                finished_at=finished,
            )
        )
        if len(batch) == 5000:
            Order.objects.bulk_create(batch)
            batch = []
    Order.objects.bulk_create(batch)
    created_field.auto_now_add = True
    OrderEvent.objects.bulk_create(
        [
            OrderEvent(order_id=order_id, actor_id=None, from_status="", to_status=status, note="Submitted")
            for order_id, status in Order.objects.values_list("id", "status").iterator(chunk_size=5000)
        ],
        batch_size=5000,
    )
    # The heavy requester's latest order is running with a huge log.
    subject = Order.objects.filter(requester=heavy).order_by("-created_at").first()
    product = subject.product
    run = Run.objects.create(
        runbook_version=product.runbook.current_version, status="running", started_at=now
    )
    OrderRun.objects.create(order=subject, run=run, attempt=1)
    Order.objects.filter(pk=subject.pk).update(
        status=OrderStatus.RUNNING, current_run=run, attempts=1, started_at=now
    )
    RunEvent.objects.bulk_create(
        [
            RunEvent(
                run=run,
                counter=n,
                event="runner_on_ok",
                host="localhost",
                task=f"Task {n // 3}",
                stdout=f"ok: [localhost] => step {n} of the long job, nothing to see",
                created_at=now,
            )
            for n in range(1, log_events + 1)
        ],
        batch_size=5000,
    )
    if os.environ["DATABASE_URL"].startswith("postgres"):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return {
        "seconds": time.monotonic() - started,
        "order_id": subject.pk,
        "run_id": run.pk,
        "product_slug": catalogue[7].slug,
        "heavy_orders": Order.objects.filter(requester=heavy).count(),
    }


def measure(data: dict, repeat: int, args: argparse.Namespace) -> list[dict]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from portal.orders.models import Order
    from portal.web.pagination import cursor_of

    users = get_user_model()
    heavy = users.objects.get(username="heavy")
    requester = Client()
    requester.force_login(heavy)
    approver = Client()
    approver.force_login(users.objects.get(username="approver"))
    # The cursor a user reaches after clicking "Older" a hundred times.
    mine = Order.objects.filter(requester=heavy).order_by("-created_at", "-id")
    deep = mine[min(2500, mine.count() - 1)]
    order = data["order_id"]
    # What the order page's poller asks when nothing changed since it loaded.
    page = requester.get(f"/orders/{order}/").content.decode()
    poll = dict(parse_qsl(html.unescape(re.search(r'hx-get="/orders/\d+/live/\?([^"]+)"', page).group(1))))
    pages = [
        (f"catalogue home ({args.products:,} products)", requester, "/", {}),
        ("catalogue search “vlna”", requester, "/", {"q": "vlna"}),
        ("catalogue, one category", requester, "/", {"category": "category-3"}),
        ("product page", requester, f"/products/{data['product_slug']}/", {}),
        (f"my orders, first page ({data['heavy_orders']:,} orders)", requester, "/orders/", {}),
        ("my orders, page 100", requester, "/orders/", {"older": cursor_of(deep)}),
        ("my orders, rare status", requester, "/orders/", {"status": "running"}),
        (f"order page ({args.log_events:,}-event log)", requester, f"/orders/{order}/", {}),
        ("order page live poll, nothing new", requester, f"/orders/{order}/live/", poll),
        ("approvals inbox", approver, "/approvals/", {}),
    ]
    results = []
    for name, client, url, params in pages:
        timed = time_request(client, name, url, params, repeat)
        timed["counts"] = sum("COUNT(" in sql.upper() for sql in timed["sql"])
        results.append(timed)
    return results


def run_one(database: str, args: argparse.Namespace) -> None:
    with bench_database(database, BENCH_DATABASE) as url:
        setup_django(url)
        data = seed(products=args.products, orders=args.orders, log_events=args.log_events)
        from django.db import connection

        print(
            f"\n### {connection.vendor} ({connection.Database.__name__}): "
            f"{args.products:,} products, {args.orders:,} orders "
            f"({data['heavy_orders']:,} of them the measured user's), a {args.log_events:,}-event log; "
            f"seeded in {data['seconds']:.0f} s; {args.repeat} timed requests per page\n"
        )
        print("| page | median ms | p95 ms | queries | COUNT queries |")
        print("|---|---:|---:|---:|---:|")
        for row in measure(data, args.repeat, args):
            figures = f"{row['median']:.1f} | {row['p95']:.1f} | {len(row['sql'])} | {row['counts']}"
            print(f"| {row['page']} | {figures} |")
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["postgres", "sqlite", "both"], default="both")
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--log-events", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    if args.database == "both":
        # One process per database: Django's settings are read once per process.
        for database in ("postgres", "sqlite"):
            command = [sys.executable, __file__, "--database", database]
            command += ["--products", str(args.products), "--orders", str(args.orders)]
            command += ["--log-events", str(args.log_events), "--repeat", str(args.repeat)]
            subprocess.run(command, check=True)
        return
    run_one(args.database, args)


if __name__ == "__main__":
    main()
