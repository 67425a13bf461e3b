"""A hostile playbook ordered like any product and run by a real Celery
worker, on whichever database and broker the suite runs on: from inside its
sandbox it finds none of the service's secrets, files or processes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from django.conf import settings

from portal.orders.choices import OrderStatus
from portal.orders.submission import order_submit
from runbooks.execution import sandbox
from tests.factories import ProductFactory, RunbookFactory
from tests.portal.orders.test_worker_end_to_end import status_of, wait_for
from tests.worker import Worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

#: Reads every /proc/<pid>/environ and cmdline it can see, and looks for the
#: service's files, then writes what it found where the test reads it. The
#: values it looks for come reversed: its own command line holds them.
PRY = r"""
import json, os, sys
needles, paths = [needle[::-1] for needle in sys.argv[1].split("|")], sys.argv[2].split("|")
found = {"pids": [], "leaks": [], "paths": []}
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    found["pids"].append(int(pid))
    for part in ("environ", "cmdline"):
        try:
            text = open(f"/proc/{pid}/{part}", "rb").read().decode(errors="replace")
        except OSError:
            continue
        found["leaks"] += [f"{pid}/{part}: {needle}" for needle in needles if needle in text]
found["paths"] = [path for path in paths if os.path.exists(path)]
with open(os.path.join(os.environ["SQUADRON_OUTPUT_DIR"], "pried.json"), "w") as handle:
    json.dump(found, handle)
"""

PLAYBOOK = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Pry
      ansible.builtin.command:
        argv: ["{{ ansible_playbook_python }}", "-c", "{{ pry }}", "{{ needles }}", "{{ paths }}"]
"""


@pytest.fixture
def worker():
    started = Worker().start()
    yield started
    started.stop()


def test_a_playbook_run_by_a_real_worker_finds_none_of_the_services_secrets_files_or_processes(
    squad, requester, worker
):
    if not sandbox.bwrap_executable():
        if os.environ.get("SQUADRON_REQUIRE_SANDBOX") == "1":
            pytest.fail("SQUADRON_REQUIRE_SANDBOX=1 but bwrap is not installed")
        pytest.skip("bubblewrap is not installed")
    form = {
        "type": "object",
        "properties": {"pry": {"type": "string"}, "needles": {"type": "string"}, "paths": {"type": "string"}},
    }
    runbook = RunbookFactory(squad=squad, slug="pry", timeout=60, playbook=PLAYBOOK)
    product = ProductFactory(slug="pry-product", squad=squad, runbook=runbook, form_schema=form)
    needles = [settings.SECRET_KEY, settings.SQUADRON_CREDENTIAL_KEY, "DATABASE_URL=", "SECRET_KEY="]
    paths = [
        # var/ itself is there: the squad's output folder lies inside it.
        str(settings.VAR_DIR / "test.sqlite3"),
        str(settings.BROKER_DIR),
        str(Path(settings.DATABASES["default"]["NAME"])),
        str(settings.BASE_DIR / "portal" / "settings.py"),
        f"/proc/{worker.process.pid}",
    ]
    inputs = {"pry": PRY, "needles": "|".join(needle[::-1] for needle in needles), "paths": "|".join(paths)}

    order = order_submit(requester=requester, product=product, inputs=inputs)
    wait_for(lambda: status_of(order) in {OrderStatus.SUCCEEDED, OrderStatus.FAILED}, timeout=90)

    order.refresh_from_db()
    assert order.status == OrderStatus.SUCCEEDED, (order.failure_reason, worker.output())
    [report] = Path(settings.SQUADRON_OUTPUT_DIR).glob(f"{squad.slug}/pried.json")
    found = json.loads(report.read_text())
    assert found["leaks"] == []
    assert found["paths"] == []
    assert found["pids"] and max(found["pids"]) < 100, "only the sandbox's own processes"
