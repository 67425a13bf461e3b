"""REST API load benchmark: list and create throughput against a trivial endpoint.

    .venv/bin/python bench/api_load.py [--products 1000] [--orders 100000] [--seconds 10]
                                       [--workers 3] [--concurrency 6] [--keep]

With PostgreSQL (a database of its own, ``squadron_bench_api``, created and
dropped) holding N published products and M orders, it serves the project
with gunicorn exactly as in production (DEBUG off) and measures, one after
the other and in the same run:

- ``GET /api/v1/me/``          the trivial authenticated endpoint (the baseline)
- ``GET /api/v1/products/``    first page of the catalogue (50 per page)
- ``GET /api/v1/orders/``      first page of a squad member's orders (50 per page)
- ``POST /api/v1/orders/``     placing an order (validated, stored, sent to the broker)

and prints requests per second, p50 and p99 latency, and each throughput as
a ratio to the trivial endpoint's. Targets: lists >= 0.5 of the trivial
endpoint, order creation >= 100 per second.

The load generator is this process (threads on keep-alive-less HTTP/1.1,
as gunicorn's sync workers close each connection), on the same two cores as
the server: absolute figures are what this machine does with both sides on
it; the ratios compare endpoints under identical conditions.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE = "squadron_bench_api"
UNUSABLE_PASSWORD = "!"  # noqa: S105 - Django's marker for "no password can log in"
FORM = {
    "type": "object",
    "required": ["hostname"],
    "properties": {
        "hostname": {"type": "string", "format": "hostname", "maxLength": 63},
        "size": {"type": "integer", "minimum": 1, "maximum": 64, "default": 2},
    },
}


def create_database() -> None:
    import psycopg

    connection = psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True)
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{DATABASE}"')
    connection.close()


def drop_database() -> None:
    import psycopg

    connection = psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True)
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    connection.close()


def configure(var_dir: Path, queue: str) -> dict[str, str]:
    env = {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
        "CELERY_BROKER_URL": os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/0"),
        "SQUADRON_DEFAULT_QUEUE": queue,
        "SQUADRON_VAR_DIR": str(var_dir),
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SQUADRON_CREDENTIAL_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        # Throttling runs (its cost is measured) but never refuses the benchmark.
        "SQUADRON_API_TOKEN_RATE": "10000000/minute",
        "SQUADRON_API_USER_RATE": "10000000/minute",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    return env


def seed(products: int, orders: int) -> str:
    """Products, squads, requesters and orders in bulk; returns the API key of
    a product owner of the first squad (the client the benchmark plays)."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from catalogue.models import Category, Product
    from portal.integrations.tokens import token_create
    from portal.orders.choices import OrderStatus
    from portal.orders.models import Order
    from runbooks.models import Runbook
    from runbooks.services import runbook_set_playbook
    from squads.choices import Role
    from squads.models import Membership, Squad

    call_command("migrate", verbosity=0)
    user_model = get_user_model()
    squads = Squad.objects.bulk_create(Squad(slug=f"squad-{n}", name=f"Squad {n}") for n in range(20))
    categories = Category.objects.bulk_create(
        Category(slug=f"category-{n}", name=f"Category {n}", position=n) for n in range(12)
    )
    runbooks = []
    for squad in squads:
        runbook = Runbook.objects.create(
            slug=f"runbook-{squad.slug}", name=f"Runbook {squad.slug}", squad=squad
        )
        runbook_set_playbook(
            runbook=runbook, content="- hosts: localhost\n  gather_facts: false\n  tasks: []\n"
        )
        runbooks.append(runbook)
    catalogue = Product.objects.bulk_create(
        Product(
            slug=f"product-{n}",
            name=f"Product {n:04d}",
            summary="A service for the benchmark",
            category=categories[n % len(categories)],
            squad=squads[n % len(squads)],
            runbook=runbooks[n % len(squads)],
            status="published",
            form_schema=FORM,
            tags="bench,load",
        )
        for n in range(products)
    )
    owner = user_model.objects.create_user("bench-owner", password=None)
    Membership.objects.create(user=owner, squad=squads[0], role=Role.PRODUCT_OWNER)
    requesters = user_model.objects.bulk_create(
        user_model(username=f"requester-{n}", password=UNUSABLE_PASSWORD) for n in range(200)
    )
    statuses = [OrderStatus.SUCCEEDED] * 6 + [OrderStatus.FAILED, OrderStatus.QUEUED, OrderStatus.CANCELLED]
    now = timezone.now()
    batch = []
    for n in range(orders):
        product = catalogue[n % len(catalogue)]
        batch.append(
            Order(
                requester=requesters[n % len(requesters)],
                product=product,
                product_version=1,
                runbook_version_id=product.runbook.current_version_id,
                squad_id=product.squad_id,
                fulfilment="automated",
                approval_policy="none",
                form_schema=FORM,
                inputs={"hostname": f"host-{n}", "size": 2},
                status=statuses[n % len(statuses)],
            )
        )
        if len(batch) == 5000:
            Order.objects.bulk_create(batch)
            batch = []
    Order.objects.bulk_create(batch)
    # Spread creation times over a year, as a real history would be.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE portal_order SET created_at = %s - (id * interval '5 minutes'), updated_at = created_at",
            [now],
        )
        cursor.execute("ANALYZE")
    key = token_create(user=owner, name="benchmark").key
    connection.close()
    return key


def reuse() -> str:
    """A fresh key for the benchmark's client on an existing benchmark database."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection

    from portal.integrations.tokens import token_create

    key = token_create(user=get_user_model().objects.get(username="bench-owner"), name="benchmark").key
    connection.close()
    return key


class Server:
    def __init__(self, env: dict[str, str], workers: int, log: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.log = log.open("wb")
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "portal.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--backlog",
                "512",
                "--access-logfile",
                "-" if os.environ.get("BENCH_ACCESS_LOG") else "/dev/null",
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, key: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if request(self.port, "GET", "/api/v1/me/", key)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer")

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(30)


def request(port: int, method: str, path: str, key: str, body: bytes | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Token {key}", "Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def load(port: int, key: str, method: str, path, seconds: float, concurrency: int, body) -> dict:  # type: ignore[no-untyped-def]
    """Requests from ``concurrency`` threads for ``seconds``; every answer must be 2xx."""
    latencies: list[float] = []
    failures: list[int] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client() -> None:
        mine: list[float] = []
        bad: list[int] = []
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            target = path() if callable(path) else path
            status, _ = request(port, method, target, key, body() if body else None)
            mine.append(time.perf_counter() - started)
            if not 200 <= status < 300:
                bad.append(status)
        with lock:
            latencies.extend(mine)
            failures.extend(bad)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    if failures:
        raise RuntimeError(f"{method} {path}: {len(failures)} non-2xx answers, e.g. {failures[:5]}")
    return {"latencies": latencies, "elapsed": elapsed}


def combine(runs: list[dict]) -> dict:
    latencies = sorted(latency for run in runs for latency in run["latencies"])
    elapsed = sum(run["elapsed"] for run in runs)
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    }


def purge_queue(queue: str) -> None:
    from portal.celery import queue_drop

    try:
        queue_drop(queue)
    except Exception as error:  # noqa: BLE001 - clean-up must not hide the results
        print(f"(could not delete the benchmark queue {queue}: {error})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=12.0, help="per endpoint, over all rounds")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds over the endpoints")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn sync workers")
    parser.add_argument("--concurrency", type=int, default=6, help="client threads")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure on the database a --keep run left")
    args = parser.parse_args()

    var_dir = Path(tempfile.mkdtemp(prefix="squadron-bench-api-"))
    queue = f"bench-api-{uuid.uuid4().hex[:8]}"
    env = configure(var_dir, queue)
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    if not args.reuse:
        print(f"seeding PostgreSQL database {DATABASE}: {args.products} products, {args.orders} orders ...")
        create_database()
    server = None
    try:
        started = time.monotonic()
        key = reuse() if args.reuse else seed(args.products, args.orders)
        print(f"ready in {time.monotonic() - started:.0f} s")
        server = Server(env, args.workers, var_dir / "gunicorn.log")
        server.wait_ready(key)
        counter = iter(range(10**9))

        def order_body() -> bytes:
            return json.dumps(
                {"product": "product-7", "inputs": {"hostname": f"bench-{next(counter)}"}}
            ).encode()

        def uncached_products() -> str:
            # A query parameter the API ignores makes every URL new: the
            # catalogue page cache never hits, the page is built each time.
            return f"/api/v1/products/?bench={next(counter)}"

        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        cases = [
            ("trivial", "GET", "/api/v1/me/", None),
            ("products", "GET", "/api/v1/products/", None),
            ("products-uncached", "GET", uncached_products, None),
            ("orders", "GET", "/api/v1/orders/", None),
            # An integration polling for changes since its last look (the
            # orders placed by the creation rounds come back here).
            ("orders-changed", "GET", f"/api/v1/orders/?updated_after={since}", None),
            ("create", "POST", "/api/v1/orders/", order_body),
        ]
        for _name, method, path, body in cases:  # warm every worker and cache
            load(server.port, key, method, path, 1.0, args.concurrency, body)
        # Interleaved rounds: the machine is shared, so a burst of someone
        # else's work falls on every endpoint alike rather than on one.
        samples: dict[str, list[dict]] = {name: [] for name, *_ in cases}
        for _ in range(args.rounds):
            for name, method, path, body in cases:
                samples[name].append(
                    load(server.port, key, method, path, args.seconds / args.rounds, args.concurrency, body)
                )
        results = {name: combine(runs) for name, runs in samples.items()}
        baseline = results["trivial"]["rps"]
        print()
        setup = f"gunicorn {args.workers} sync workers, {args.concurrency} client threads"
        print(f"{setup}, {args.seconds:g} s per endpoint in {args.rounds} interleaved rounds")
        print("| endpoint | requests/s | p50 ms | p99 ms | ratio to trivial |")
        print("|---|---:|---:|---:|---:|")
        labels = {
            "trivial": " (trivial)",
            "products-uncached": " (page cache missed)",
            "orders-changed": " (polling for changes)",
        }
        for name, method, path, _ in cases:
            result = results[name]
            shown = {
                "products-uncached": "/api/v1/products/",
                "orders-changed": "/api/v1/orders/?updated_after=T0",
            }.get(name, path)
            print(
                f"| `{method} {shown}`{labels.get(name, '')} | {result['rps']:.0f} | "
                f"{result['p50']:.1f} | {result['p99']:.1f} | {result['rps'] / baseline:.2f} |"
            )
        lists_ok = all(results[name]["rps"] / baseline >= 0.5 for name in ("products", "orders"))
        create_ok = results["create"]["rps"] >= 100
        print()
        verdict = {True: "yes", False: "NO"}
        print(f"lists >= 0.5 of trivial: {verdict[lists_ok]}; creation >= 100/s: {verdict[create_ok]}")
    finally:
        if server:
            server.stop()
        purge_queue(queue)
        if not args.keep:
            drop_database()


if __name__ == "__main__":
    main()
