"""Insights benchmark: the squad dashboard over a year of 100,000 orders.

    .venv/bin/python bench/insights.py [--orders 100000] [--repeat 15] [--sqlite]

Builds, in a database of its own (PostgreSQL ``squadron_bench_insights`` on
127.0.0.1, created and dropped; ``--sqlite`` for a file under a temp dir), a
catalogue of 6 squads and 36 products with dependencies, and a history of
``--orders`` orders spread over the last 365 days with their runs, run
events (one runbook prints a deprecation warning) and audit trail, written
with ``bulk_create``. Then it renders, in process through Django's test
client as a signed-in squad member, the squad dashboard (default 90 days,
and a whole year), the leads' overview, the dependency graph, one CSV export
and ``/metrics``, and prints the median and p95 of ``--repeat`` renders after
a warm-up. Target: the squad dashboard under 300 ms.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE = "squadron_bench_insights"
SQUADS = ["network", "compute", "identity", "data", "platform", "workplace"]
PLAYBOOK = """\
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Check inputs
      ansible.builtin.assert:
        that: name is defined
    - name: Do the work {index}
      ansible.builtin.copy:
        dest: "/tmp/{{{{ name }}}}-{index}"
        content: "{{{{ size | default(1) }}}}"
    - name: Tell
      ansible.builtin.debug:
        msg: "done {{{{ name }}}}"
"""


def create_database(name: str) -> None:
    import psycopg

    connection = psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True)
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()


def drop_database(name: str) -> None:
    import psycopg

    connection = psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True)
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    connection.close()


def configure(work: Path, sqlite: bool) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "SQUADRON_VAR_DIR": str(work),
            "DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}"
            if sqlite
            else f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
            "CELERY_BROKER_URL": "filesystem://localhost/",
            "LOG_LEVEL": "WARNING",
        }
    )


def seed(order_count: int) -> dict:
    """The catalogue and the history; returns what the measurements need."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from catalogue.choices import ApprovalPolicy, Fulfilment, ProductStatus
    from catalogue.models import Category, Product
    from portal.orders.choices import OrderStatus
    from portal.orders.models import Order, OrderEvent, OrderRun
    from runbooks.choices import RunStatus
    from runbooks.models import Run, Runbook, RunEvent
    from runbooks.services import runbook_set_playbook
    from squads.choices import Role
    from squads.models import Membership, Squad

    rnd = random.Random(42)
    users = get_user_model()
    category = Category.objects.create(slug="bench", name="Bench")
    requesters = [users.objects.create(username=f"requester-{index}") for index in range(50)]
    squads, members, products = [], {}, []
    for squad_index, slug in enumerate(SQUADS):
        squad = Squad.objects.create(slug=slug, name=f"{slug.title()} Squad")
        squads.append(squad)
        members[squad.pk] = []
        for member_index, role in enumerate(
            [Role.PRODUCT_OWNER, Role.ENGINEER, Role.ENGINEER, Role.SME, Role.PLATFORM_LEAD]
        ):
            user = users.objects.create(username=f"{slug}-{member_index}")
            Membership.objects.create(user=user, squad=squad, role=role)
            members[squad.pk].append(user)
        for product_index in range(6):
            manual = product_index == 5
            runbook = None
            if not manual:
                runbook = Runbook.objects.create(
                    slug=f"{slug}-runbook-{product_index}",
                    name=f"{slug} runbook {product_index}",
                    squad=squad,
                )
                runbook_set_playbook(runbook=runbook, content=PLAYBOOK.format(index=product_index))
                runbook.refresh_from_db()
            product = Product.objects.create(
                slug=f"{slug}-product-{product_index}",
                name=f"{slug.title()} product {product_index}",
                category=category,
                squad=squad,
                status=ProductStatus.PUBLISHED,
                fulfilment=Fulfilment.MANUAL if manual else Fulfilment.AUTOMATED,
                runbook=runbook,
                approval_policy=ApprovalPolicy.SQUAD if product_index in (3, 5) else ApprovalPolicy.NONE,
                sla_minutes=rnd.choice([15, 30, 60, 240, 1440]),
                form_schema={"type": "object", "properties": {"name": {"type": "string"}}},
            )
            products.append(product)
        if squad_index:
            # Each squad builds on the previous one's first two products.
            for product in products[-6:-3]:
                product.depends_on.add(*products[(squad_index - 1) * 6 : (squad_index - 1) * 6 + 2])

    now = timezone.now()
    created_at = Order._meta.get_field("created_at")
    created_at.auto_now_add = False  # bulk_create must keep the history's timestamps
    batch = 5000
    started = time.perf_counter()
    try:
        for offset in range(0, order_count, batch):
            orders, plans = [], []
            for _ in range(min(batch, order_count - offset)):
                product = rnd.choice(products)
                submitted = now - timedelta(days=365 * rnd.random() ** 0.9, minutes=rnd.randint(1, 600))
                automated = product.fulfilment == Fulfilment.AUTOMATED
                approval = product.approval_policy != ApprovalPolicy.NONE
                roll = rnd.random()
                approved = submitted + timedelta(minutes=rnd.lognormvariate(3.5, 1)) if approval else None
                start = (approved or submitted) + timedelta(seconds=rnd.uniform(1, 30))
                if automated:
                    finish = start + timedelta(seconds=rnd.lognormvariate(3.5, 0.7))
                    status = OrderStatus.FAILED if roll < 0.06 else OrderStatus.SUCCEEDED
                else:
                    finish = start + timedelta(minutes=rnd.lognormvariate(4.5, 0.8))
                    status = OrderStatus.SUCCEEDED if roll < 0.95 else OrderStatus.CANCELLED
                if finish > now:
                    status = OrderStatus.RUNNING if automated else OrderStatus.AWAITING_FULFILMENT
                    finish = None
                worker = rnd.choice(members[product.squad_id])
                orders.append(
                    Order(
                        requester=rnd.choice(requesters),
                        product=product,
                        product_version=1,
                        runbook_version=product.runbook.current_version if automated else None,
                        squad_id=product.squad_id,
                        fulfilment=product.fulfilment,
                        approval_policy=product.approval_policy,
                        form_schema=product.form_schema,
                        inputs={"name": "x"},
                        status=status,
                        created_at=submitted,
                        approved_at=approved,
                        queued_at=start if automated else None,
                        started_at=start if automated else None,
                        finished_at=finish,
                        claimed_by=None if automated else worker,
                        claimed_at=None if automated else start + timedelta(minutes=5),
                        failure_reason="Run failed: host unreachable" if status == OrderStatus.FAILED else "",
                    )
                )
                plans.append((submitted, approved, start, finish, automated, approval, status))
            Order.objects.bulk_create(orders, batch_size=batch)
            runs, events, run_events = [], [], []
            for order, (submitted, approved, start, finish, automated, approval, status) in zip(
                orders, plans, strict=True
            ):
                first = (
                    OrderStatus.PENDING_APPROVAL
                    if approval
                    else (OrderStatus.QUEUED if automated else OrderStatus.AWAITING_FULFILMENT)
                )
                events.append(OrderEvent(order=order, from_status="", to_status=first, created_at=submitted))
                if approval:
                    nxt = OrderStatus.QUEUED if automated else OrderStatus.AWAITING_FULFILMENT
                    events.append(
                        OrderEvent(order=order, from_status=first, to_status=nxt, created_at=approved)
                    )
                if finish is not None:
                    before = OrderStatus.RUNNING if automated else OrderStatus.AWAITING_FULFILMENT
                    events.append(
                        OrderEvent(order=order, from_status=before, to_status=status, created_at=finish)
                    )
                if automated and finish is not None:
                    runs.append(
                        Run(
                            runbook_version=order.runbook_version,
                            status=RunStatus.SUCCEEDED
                            if status == OrderStatus.SUCCEEDED
                            else RunStatus.FAILED,
                            created_at=start,
                            started_at=start,
                            finished_at=finish,
                            rc=0,
                        )
                    )
            created_run_at = Run._meta.get_field("created_at")
            created_run_at.auto_now_add = False
            event_created = OrderEvent._meta.get_field("created_at")
            event_created.auto_now_add = False
            try:
                Run.objects.bulk_create(runs, batch_size=batch)
                OrderEvent.objects.bulk_create(events, batch_size=batch)
            finally:
                created_run_at.auto_now_add = True
                event_created.auto_now_add = True
            automated_orders = [
                order for order, plan in zip(orders, plans, strict=True) if plan[4] and plan[3]
            ]
            OrderRun.objects.bulk_create(
                [
                    OrderRun(order=order, run=run, attempt=1)
                    for order, run in zip(automated_orders, runs, strict=True)
                ],
                batch_size=batch,
            )
            for run in runs:
                deprecated = run.runbook_version.runbook.slug.endswith("-runbook-0")
                run_events.append(
                    RunEvent(
                        run=run,
                        counter=1,
                        event="verbose" if deprecated else "runner_on_ok",
                        stdout="[DEPRECATION WARNING]: Old option." if deprecated else "ok: [localhost]",
                        created_at=run.started_at,
                    )
                )
            RunEvent.objects.bulk_create(run_events, batch_size=batch)
    finally:
        created_at.auto_now_add = True
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE")
        else:
            cursor.execute("ANALYZE")
    print(
        f"seeded {Order.objects.count()} orders, {Run.objects.count()} runs, "
        f"{OrderEvent.objects.count()} order events in {time.perf_counter() - started:.1f} s"
    )
    member = (
        Membership.objects.filter(squad=squads[1], role=Role.PRODUCT_OWNER).select_related("user").first()
    )
    lead = Membership.objects.filter(squad=squads[0], role=Role.PLATFORM_LEAD).select_related("user").first()
    return {"member": member.user, "lead": lead.user, "squad": squads[1]}


def existing_people() -> dict:
    from squads.choices import Role
    from squads.models import Membership, Squad

    squad = Squad.objects.get(slug=SQUADS[1])
    member = Membership.objects.filter(squad=squad, role=Role.PRODUCT_OWNER).select_related("user").first()
    lead = (
        Membership.objects.filter(squad__slug=SQUADS[0], role=Role.PLATFORM_LEAD)
        .select_related("user")
        .first()
    )
    return {"member": member.user, "lead": lead.user, "squad": squad}


def profile(client, path: str) -> None:
    from django.db import connection, reset_queries

    client.get(path)
    reset_queries()
    client.get(path)
    queries = sorted(connection.queries, key=lambda query: -float(query["time"]))
    total = sum(float(query["time"]) for query in queries)
    print(f"   {len(queries)} queries, {total * 1000:.0f} ms in the database; slowest:")
    for query in queries[:8]:
        print(f"   {float(query['time']) * 1000:7.1f} ms  {query['sql'][:300]}")


def measure(label: str, client, path: str, repeat: int, **headers: str) -> float:
    response = client.get(path, **headers)
    assert response.status_code == 200, (path, response.status_code)
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path, **headers)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    timings.sort()
    median = statistics.median(timings)
    p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
    print(
        f"   {label:<44} median {median:7.1f} ms   p95 {p95:7.1f} ms   ({len(response.content) // 1024} KiB)"
    )
    return median


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--sqlite", action="store_true", help="Use an SQLite file instead of PostgreSQL.")
    parser.add_argument("--keep", action="store_true", help="Keep the PostgreSQL database afterwards.")
    parser.add_argument("--reuse", action="store_true", help="Measure a database kept by --keep.")
    parser.add_argument("--profile", action="store_true", help="Print the slowest queries of one dashboard.")
    arguments = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="squadron-bench-insights-"))
    configure(work, arguments.sqlite)
    if not arguments.sqlite and not arguments.reuse:
        create_database(DATABASE)
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client
        from django.test.utils import override_settings

        call_command("migrate", verbosity=0)
        engine = "SQLite" if arguments.sqlite else "PostgreSQL"
        where = f"{platform.node()} ({os.cpu_count()} CPUs), Python {platform.python_version()}"
        print(f"Insights benchmark on {where}, {engine}")
        people = existing_people() if arguments.reuse else seed(arguments.orders)
        client = Client(HTTP_HOST="localhost")
        client.force_login(people["member"])
        slug = people["squad"].slug
        print(f"\nRenders ({arguments.repeat} after one warm-up), signed in as a member of {slug}:")
        # Measure as production runs (DEBUG off: no query log, no template
        # debug info); the profile below needs DEBUG's query log.
        token = secrets.token_urlsafe(32)
        production = override_settings(DEBUG=False, SQUADRON_METRICS_TOKEN=token)
        if arguments.profile:
            profile(client, f"/squads/{slug}/dashboard/")
        production.enable()
        dashboard = measure(
            "squad dashboard, last 90 days", client, f"/squads/{slug}/dashboard/", arguments.repeat
        )
        measure(
            "squad dashboard, last 365 days", client, f"/squads/{slug}/dashboard/?days=365", arguments.repeat
        )
        measure(
            "squad dashboard CSV (products, 365 days)",
            client,
            f"/squads/{slug}/dashboard/products.csv?days=365",
            arguments.repeat,
        )
        measure("dependency graph", client, "/insights/graph/", arguments.repeat)
        client.force_login(people["lead"])
        measure("overview across squads, last 90 days", client, "/insights/", arguments.repeat)
        measure("/metrics", client, "/metrics", arguments.repeat, HTTP_AUTHORIZATION=f"Bearer {token}")
        production.disable()
        verdict = "OK" if dashboard < 300 else "TOO SLOW"
        print(f"\nsquad dashboard median {dashboard:.1f} ms (target < 300 ms): {verdict}")
        connection.close()
    finally:
        from django.db import connections

        connections.close_all()
        if not arguments.sqlite and not arguments.keep:
            drop_database(DATABASE)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    main()
