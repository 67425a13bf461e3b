"""The ``squadron.portal`` Ansible collection (clients/ansible/) as its users
meet it: built with ``ansible-galaxy collection build``, installed into a
collections path of its own, and driven by ``ansible-playbook`` against a
live portal whose orders a real Celery worker runs (the demo catalogue's
namespace playbooks). A play orders a namespace, waits, changes its quota
and decommissions it; run again it places nothing; the values given with
``-e`` (strings) reach the portal typed as the product's form says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from catalogue.importer import import_catalogue
from catalogue.models import Product
from portal.instances.choices import InstanceState
from portal.instances.models import ServiceInstance
from portal.integrations.tokens import token_create
from portal.orders.models import Order
from tests.factories import UserFactory
from tests.worker import Worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEMO_FILE = settings.BASE_DIR / "catalogue" / "demo" / "catalogue.yaml"

LIFE = """\
- name: A namespace's life through squadron.portal
  hosts: localhost
  gather_facts: false
  vars:
    second_run: false
  tasks:
    - name: Order it and wait until it is made
      squadron.portal.order:
        product: k8s-namespace
        inputs:
          namespace_name: ansible-dev
          team_email: ansible@example.com
          memory_gib: "{{ memory }}"
          cpu_cores: "{{ cpu }}"
          default_deny: "{{ deny }}"
        poll_interval: 0.2
        wait_timeout: 240
      register: ordered

    - name: The order succeeded, made an active instance, and was placed only the first time
      ansible.builtin.assert:
        that:
          - ordered.order.status == 'succeeded'
          - ordered.instance.state == ('decommissioned' if second_run else 'active')
          - ordered.inputs.memory_gib == 8
          - ordered.changed != second_run
          - ordered.replayed == second_run

    - name: Change its quota (a day-2 operation)
      squadron.portal.instance:
        id: "{{ ordered.instance.id }}"
        operation: change-quota
        inputs:
          cpu_cores: "3"
          memory_gib: "16"
        poll_interval: 0.2
        wait_timeout: 240
      register: changed_quota
      when: not second_run

    - name: The same operation asked again is the same order
      squadron.portal.instance:
        id: "{{ ordered.instance.id }}"
        operation: change-quota
        inputs:
          cpu_cores: 3
          memory_gib: 16
      register: again
      when: not second_run

    - name: Read it back
      squadron.portal.instance_info:
        id: "{{ ordered.instance.id }}"
      register: after_change
      when: not second_run

    - name: The operation ran and the instance reports the new quota
      ansible.builtin.assert:
        that:
          - changed_quota.order.status == 'succeeded'
          - changed_quota.order.operation == 'change-quota'
          - changed_quota.changed and not again.changed and again.replayed
          - again.order.id == changed_quota.order.id
          - after_change.instance.attributes.memory_gib == 16
      when: not second_run

    - name: Decommission it
      squadron.portal.instance:
        id: "{{ ordered.instance.id }}"
        operation: delete
        poll_interval: 0.2
        wait_timeout: 240
      register: deleted

    - name: Gone, once
      ansible.builtin.assert:
        that:
          - deleted.instance.state == 'decommissioned'
          - deleted.changed != second_run

    - name: Its orders as order_info lists them
      squadron.portal.order_info:
        product: k8s-namespace
      register: orders

    - name: The lookup reads the catalogue and the product's form
      vars:
        form: "{{ lookup('squadron.portal.products', 'k8s-namespace').form_schema }}"
      ansible.builtin.assert:
        that:
          - "'k8s-namespace' in query('squadron.portal.products') | map(attribute='slug')"
          - form.properties.memory_gib.type == 'integer'
          - orders.orders | length == 3
"""


@pytest.fixture(scope="module")
def collections_path(tmp_path_factory) -> Path:
    """The collection as ``ansible-galaxy`` builds and installs it."""
    where = tmp_path_factory.mktemp("collection")
    built = subprocess.run(
        [BIN / "ansible-galaxy", "collection", "build", ROOT / "clients" / "ansible", "--output-path", where],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (tarball,) = where.glob("squadron-portal-*.tar.gz")
    installed = subprocess.run(
        [BIN / "ansible-galaxy", "collection", "install", "--offline", tarball, "-p", where / "collections"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (where / "collections" / "ansible_collections" / "squadron" / "portal" / "MANIFEST.json").exists()
    return where / "collections"


@pytest.fixture
def portal(transactional_db, live_server):  # type: ignore[no-untyped-def]
    import_catalogue(DEMO_FILE, dry_run=False)
    user = UserFactory(username="ansible-user")
    return {"url": live_server.url, "token": token_create(user=user, name="ansible").key, "user": user}


@pytest.fixture
def worker():  # type: ignore[no-untyped-def]
    started = Worker(extra_env={"SQUADRON_HEARTBEAT_SECONDS": "1"}).start()
    yield started
    started.stop()


def play(collections_path: Path, portal: dict, tmp_path: Path, *options: str) -> subprocess.CompletedProcess:
    playbook = tmp_path / "life.yml"
    playbook.write_text(LIFE)
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(collections_path),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_NOCOLOR": "1",
        "SQUADRON_URL": portal["url"],
        "SQUADRON_TOKEN": portal["token"],
    }
    return run(
        [
            BIN / "ansible-playbook",
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            # -e gives strings: the form's types must reach the portal.
            "-e",
            "memory=8 cpu=1.5 deny=false",
            *options,
            playbook,
        ],
        env,
        timeout=600,
    )


def run(command: list, env: dict, timeout: float) -> subprocess.CompletedProcess:
    """``command``'s outcome; past ``timeout`` it is killed and the test
    fails with what it had printed (where it was stuck)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"{command[0]} still running after {timeout}s:\n{output}")
    return subprocess.CompletedProcess(command, process.returncode, output, "")


def test_a_play_orders_waits_changes_and_decommissions_and_a_second_run_places_nothing(
    collections_path, portal, worker, tmp_path
):
    first = play(collections_path, portal, tmp_path)
    assert first.returncode == 0, first.stdout + worker.output()

    orders = list(Order.objects.order_by("pk"))
    assert [order.operation.slug if order.operation else None for order in orders] == [
        None,
        "change-quota",
        "delete",
    ]
    assert all(order.status == "succeeded" for order in orders)
    created = orders[0]
    # The type trap: "8", "1.5" and "false" from -e reached the portal typed.
    assert created.inputs["memory_gib"] == 8 and type(created.inputs["memory_gib"]) is int
    assert created.inputs["cpu_cores"] == 1.5
    assert created.inputs["default_deny"] is False
    assert orders[1].inputs["memory_gib"] == 16 and orders[1].inputs["cpu_cores"] == 3
    instance = ServiceInstance.objects.get()
    assert instance.state == InstanceState.DECOMMISSIONED
    assert instance.owner == portal["user"]

    second = play(collections_path, portal, tmp_path, "-e", json.dumps({"second_run": True}))
    assert second.returncode == 0, second.stdout
    assert Order.objects.count() == 3, "the second run placed no order"
    assert ServiceInstance.objects.count() == 1
    assert "changed=0" in second.stdout.split("PLAY RECAP")[1]


def adhoc(collections_path: Path, portal: dict, tmp_path: Path, inputs: dict, *options: str):
    """``ansible localhost -m squadron.portal.order`` for the namespace with ``inputs``."""
    arguments = {"product": "k8s-namespace", "inputs": inputs, "wait": False}
    return task(collections_path, portal, tmp_path, "squadron.portal.order", arguments, *options)


def task(collections_path: Path, portal: dict, tmp_path: Path, module: str, arguments: dict, *options: str):
    """``ansible localhost -m module -a arguments``, as the portal's user."""
    return run(
        [
            BIN / "ansible",
            "localhost",
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-m",
            module,
            "-a",
            json.dumps(arguments),
            *options,
        ],
        {
            **os.environ,
            "ANSIBLE_COLLECTIONS_PATH": str(collections_path),
            "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
            "ANSIBLE_NOCOLOR": "1",
            "SQUADRON_URL": portal["url"],
            "SQUADRON_TOKEN": portal["token"],
        },
        timeout=120,
    )


NAMESPACE = {"namespace_name": "checked", "team_email": "a@example.com"}


def test_check_mode_types_the_inputs_and_places_nothing(collections_path, portal, tmp_path):
    checked = adhoc(collections_path, portal, tmp_path, {**NAMESPACE, "memory_gib": "8"}, "--check")
    assert checked.returncode == 0, checked.stdout
    assert '"changed": true' in checked.stdout
    assert '"memory_gib": 8' in checked.stdout
    assert Order.objects.count() == 0


def test_a_value_that_is_not_of_its_type_is_refused_by_the_portal_naming_the_field(
    collections_path, portal, tmp_path
):
    refused = adhoc(collections_path, portal, tmp_path, {**NAMESPACE, "memory_gib": "lots"})
    assert refused.returncode != 0
    assert "400" in refused.stdout and "memory_gib" in refused.stdout, refused.stdout
    assert Order.objects.count() == 0


def test_instance_info_finds_by_name_an_instance_the_limit_would_have_cut(collections_path, portal, tmp_path):
    """Newest first, billing-dev is the oldest of four: the limit counts the
    instances of that name, so it is found (it was reported missing)."""
    namespace = Product.objects.get(slug="k8s-namespace")
    for name in ("billing-dev", "web-1", "web-2", "web-3"):
        ServiceInstance.objects.create(
            product=namespace, owner=portal["user"], name=name, state=InstanceState.ACTIVE
        )
    wanted = {"name": "billing-dev", "limit": 1}
    found = task(collections_path, portal, tmp_path, "squadron.portal.instance_info", wanted)
    assert found.returncode == 0, found.stdout
    answer = json.loads(found.stdout.split(" => ", 1)[1])
    assert [item["name"] for item in answer["instances"]] == ["billing-dev"]
    assert answer["changed"] is False and ServiceInstance.objects.count() == 4
