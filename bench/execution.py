"""Execution benchmark: what Squadron adds on top of ansible-runner.

    .venv/bin/python bench/execution.py [--orders 20] [--events 20000] [--latency 30]

Prints, for this machine, in one run:

1. end-to-end overhead: N orders of a trivial playbook through the whole path
   (submit, broker, one worker process, events stored, final status) against
   N plain ``ansible_runner.run`` calls of the same playbook (target <= 1.10);
2. event ingestion: one playbook printing E events, through a real worker,
   against plain ansible-runner (target <= 1.15), events stored per second,
   all present;
3. dispatch latency: submit to ``running`` with an idle worker, median and
   p95 (target median <= 100 ms);
4. peak RSS of the worker processes during the event test (target <= 250 MB).

It uses PostgreSQL and Redis when they answer on their usual local ports (a
database of its own, created and dropped, and a queue of its own), else the
embedded SQLite and filesystem broker.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
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

TRIVIAL = """\
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Say hello
      ansible.builtin.debug:
        msg: "hello {{ label | default('world') }}"
"""


def many_events(count: int) -> str:
    """A playbook printing ``count`` item events on two local hosts."""
    per_loop = count // 4  # two loops on two hosts
    return f"""\
- name: Add two local hosts
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Add a host
      ansible.builtin.add_host:
        name: "local-{{{{ item }}}}"
        groups: printers
        ansible_connection: local
        ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
      loop: [1, 2]

- name: Print a lot
  hosts: printers
  gather_facts: false
  tasks:
    - name: First loop
      ansible.builtin.debug:
        var: item
      loop: "{{{{ range({per_loop}) | list }}}}"
    - name: Second loop
      ansible.builtin.debug:
        var: item
      loop: "{{{{ range({per_loop}) | list }}}}"
"""


def services_up() -> bool:
    import socket

    for port in (5432, 6379):
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return False
    return True


def configure(var_dir: Path, use_services: bool, database: str) -> dict[str, str]:
    env = {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "SQUADRON_VAR_DIR": str(var_dir),
        "SQUADRON_DEFAULT_QUEUE": f"bench-{uuid.uuid4().hex[:8]}",
        "LOG_LEVEL": "WARNING",
    }
    if use_services:
        env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{database}"
        env["CELERY_BROKER_URL"] = "redis://127.0.0.1:6379/0"
    else:
        env["DATABASE_URL"] = f"sqlite:///{var_dir / 'bench.sqlite3'}"
        env["CELERY_BROKER_URL"] = "filesystem://localhost/"
    os.environ.update(env)
    return env


def create_database(name: str) -> None:
    import psycopg

    connection = psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True)
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()


def drop_database(name: str) -> None:
    import psycopg

    connection = psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True)
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    connection.close()


class Worker:
    """One Celery worker process (concurrency 1) on the benchmark's queue."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self.log = log.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "--loglevel=WARNING",
                "--concurrency=1",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--queues",
                env["SQUADRON_DEFAULT_QUEUE"],
                "--hostname",
                f"bench-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.peak_rss = 0
        self._sampling = False

    def wait_ready(self, timeout: float = 60) -> None:
        from portal.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(self.log_path.read_text(errors="replace"))
            replies = (
                app.control.ping(timeout=0.5)
                if not os.environ["CELERY_BROKER_URL"].startswith("filesystem")
                else None
            )
            if replies or (replies is None and self.pids()[1:]):
                return
            time.sleep(0.2)
        raise RuntimeError("worker not ready:\n" + self.log_path.read_text(errors="replace"))

    def pids(self) -> list[int]:
        """The worker's main process and its pool children (not the
        ansible-playbook processes they start)."""
        pids = [self.process.pid]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                comm = stat.read_text().split("(", 1)[1].split(")", 1)[0]
            except (OSError, IndexError):
                continue
            if int(fields[1]) == self.process.pid and "ansible" not in comm:
                pids.append(int(stat.parent.name))
        return pids

    def rss(self) -> int:
        total = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total = max(total, int(line.split()[1]) * 1024)
            except OSError:
                continue
        return total

    def sample(self) -> None:
        """Sample the largest worker process's RSS until ``stop_sampling``."""
        self._sampling = True
        self.peak_rss = 0

        def loop() -> None:
            while self._sampling:
                self.peak_rss = max(self.peak_rss, self.rss())
                time.sleep(0.05)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop_sampling(self) -> int:
        self._sampling = False
        self._thread.join()
        return self.peak_rss

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()


def plain_runner(playbook: str, runs: int, work: Path) -> list[float]:
    """Wall time of ``runs`` plain ansible_runner.run calls of ``playbook``."""
    import ansible_runner

    times = []
    for index in range(runs):
        directory = work / f"plain-{index}"
        (directory / "project").mkdir(parents=True)
        (directory / "project" / "playbook.yml").write_text(playbook)
        (directory / "inventory").mkdir()
        (directory / "inventory" / "hosts").write_text(
            f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
        )
        started = time.perf_counter()
        result = ansible_runner.run(
            private_data_dir=str(directory),
            playbook="playbook.yml",
            quiet=True,
            envvars={"PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"},
        )
        times.append(time.perf_counter() - started)
        assert result.status == "successful", result.status
        shutil.rmtree(directory)
    return times


def make_product(slug: str, playbook: str):  # type: ignore[no-untyped-def]
    from catalogue.choices import ProductStatus
    from catalogue.models import Category, Product
    from runbooks.models import Runbook
    from runbooks.services import runbook_set_playbook
    from squads.models import Squad

    squad, _ = Squad.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    category, _ = Category.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    runbook = Runbook.objects.create(slug=slug, name=slug, squad=squad, timeout=900)
    runbook_set_playbook(runbook=runbook, content=playbook)
    return Product.objects.create(
        slug=slug,
        name=slug,
        category=category,
        squad=squad,
        runbook=runbook,
        status=ProductStatus.PUBLISHED,
        form_schema={"type": "object", "properties": {"label": {"type": "string"}}},
    )


def wait_final(order_ids: list[int], timeout: float) -> None:
    from portal.orders.choices import TERMINAL_STATUSES
    from portal.orders.models import Order

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        open_orders = Order.objects.filter(pk__in=order_ids).exclude(status__in=list(TERMINAL_STATUSES))
        if not open_orders.exists():
            return
        time.sleep(0.02)
    raise RuntimeError(f"orders still open after {timeout}s")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=20)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--latency", type=int, default=30, help="orders timed for dispatch latency")
    parser.add_argument("--embedded", action="store_true", help="SQLite and the filesystem broker")
    parser.add_argument(
        "--no-plain-events",
        action="store_true",
        help="skip plain ansible-runner in the event test: beyond ~30,000 events its pexpect buffer "
        "makes it crawl, which is what Squadron's executor avoids",
    )
    arguments = parser.parse_args()

    use_services = not arguments.embedded and services_up()
    work = Path(tempfile.mkdtemp(prefix="squadron-bench-"))
    database = f"squadron_bench_exec_{uuid.uuid4().hex[:6]}"
    if use_services:
        create_database(database)
    env = configure(work / "var", use_services, database)

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from portal.orders.models import Order
    from portal.orders.submission import order_submit
    from runbooks.models import RunEvent

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create(username="bench")
    trivial = make_product("trivial", TRIVIAL)
    printer = make_product("printer", many_events(arguments.events))

    print(f"Squadron execution benchmark, {time.strftime('%Y-%m-%d %H:%M')}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()},"
        f" {'PostgreSQL + Redis' if use_services else 'SQLite + filesystem broker'}"
    )
    worker = Worker(env, work / "worker.log")
    try:
        worker.wait_ready()
        # Warm up both paths once (imports, Ansible's plugin caches).
        warm = order_submit(requester=user, product=trivial, inputs={"label": "warm"})
        wait_final([warm.pk], 120)
        plain_runner(TRIVIAL, 1, work)

        # 1. End-to-end overhead.
        plain = plain_runner(TRIVIAL, arguments.orders, work)
        started = time.perf_counter()
        orders = [
            order_submit(requester=user, product=trivial, inputs={"label": str(index)}).pk
            for index in range(arguments.orders)
        ]
        wait_final(orders, 60 * arguments.orders)
        portal_total = time.perf_counter() - started
        succeeded = Order.objects.filter(pk__in=orders, status="succeeded").count()
        print(f"\n1. End-to-end, {arguments.orders} orders of a trivial playbook, one worker process")
        each = statistics.mean(plain) * 1000
        print(f"   plain ansible_runner.run: {sum(plain):7.2f} s ({each:.0f} ms each)")
        print(
            f"   Squadron (submit -> final): {portal_total:7.2f} s"
            f" ({portal_total / arguments.orders * 1000:.0f} ms each), {succeeded}/{len(orders)} succeeded"
        )
        print(f"   ratio: {portal_total / sum(plain):.3f}  (target <= 1.10)")

        # 2. Event ingestion, with the worker's memory sampled.
        playbook = many_events(arguments.events)
        plain_events = None if arguments.no_plain_events else plain_runner(playbook, 1, work)[0]
        worker.sample()
        started = time.perf_counter()
        order = order_submit(requester=user, product=printer, inputs={})
        wait_final([order.pk], 900)
        portal_events = time.perf_counter() - started
        peak = worker.stop_sampling()
        order.refresh_from_db()
        stored = RunEvent.objects.filter(run=order.current_run).count()
        items = RunEvent.objects.filter(
            run=order.current_run, event="runner_item_on_ok", task__endswith=" loop"
        ).count()
        print(f"\n2. Event ingestion, one playbook printing {arguments.events} item events")
        if plain_events is not None:
            print(f"   plain ansible-runner: {plain_events:7.2f} s")
        print(f"   Squadron:             {portal_events:7.2f} s, status {order.status}")
        print(
            f"   events stored: {stored} ({items} item events, all present: {items == arguments.events}),"
            f" {stored / portal_events:.0f} events/s"
        )
        if plain_events is not None:
            print(f"   ratio: {portal_events / plain_events:.3f}  (target <= 1.15)")

        # 3. Dispatch latency with an idle worker.
        latencies = []
        for index in range(arguments.latency):
            order = order_submit(requester=user, product=trivial, inputs={"label": f"l{index}"})
            wait_final([order.pk], 120)
            order.refresh_from_db()
            latencies.append((order.started_at - order.created_at).total_seconds() * 1000)
        print(f"\n3. Dispatch latency, submit -> running, {arguments.latency} orders, idle worker")
        print(
            f"   median {statistics.median(latencies):.0f} ms, p95 {percentile(latencies, 0.95):.0f} ms,"
            f" max {max(latencies):.0f} ms  (target median <= 100 ms)"
        )

        print("\n4. Peak RSS of a worker process during the event test")
        print(f"   {peak / 1e6:.0f} MB  (target <= 250 MB)")
    finally:
        worker.stop()
        from django.db import connections

        connections.close_all()
        if use_services:
            drop_database(database)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
