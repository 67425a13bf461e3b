"""Since ansible-core 2.19 Ansible's errors and warnings quote the lines
around the place a value was read from (an "origin excerpt"), cut at 120
characters. A secret input or a credential on such a line must reach no
stored output: not the run's events, not the failure reason of the run or of
the order, not the order's history, not the downloadable log.

Real orders, run by the real executor (ansible-runner, ansible-playbook).
An input named ``name`` (a play keyword, allowed: a common form field) makes
Ansible warn and quote the lines of the file it was read from, two lines
before it included."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from portal.orders.choices import OrderStatus
from portal.orders.execution import order_execute
from portal.orders.models import Order
from portal.orders.submission import order_submit
from runbooks.choices import CredentialKind
from runbooks.models import RunEvent
from runbooks.services import credential_set_secrets
from tests.factories import CredentialFactory, ProductFactory, RunbookFactory
from tests.runbooks import use_private_dirs

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

# Long: a line holding it is longer than Ansible's 120-column excerpt, which
# would show only its beginning (too little for the masker to recognise).
API_TOKEN = "tok-" + "".join(f"{index:02d}q7Zx" for index in range(24))
PIN = "8421-7730-pin"
DB_PASSWORD = "db-" + "Kx9-w2" * 25

FORM = {
    "type": "object",
    "required": ["api_token", "pin", "name"],
    "properties": {
        "api_token": {"type": "string", "x-secret": True},
        "pin": {"type": "string", "x-secret": True},
        "name": {"type": "string"},
    },
}

FAILING_TASK = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Use the inputs
      ansible.builtin.fail:
        msg: "cannot register {{ name }} with a token of {{ api_token | length }} characters"
"""

# Refused by Ansible after it read the inputs (and warned about them).
REFUSED_PLAYBOOK = """\
- hosts: "{{ target_hosts }}"
  gather_facts: false
  tasks:
    - name: Never run
      ansible.builtin.debug:
        msg: "{{ api_token }}"
"""


@pytest.fixture
def dirs(settings, tmp_path):
    return use_private_dirs(settings, tmp_path)


def order_for(squad: Any, requester: Any, playbook: str) -> Order:
    runbook = RunbookFactory(squad=squad, playbook=playbook)
    login = CredentialFactory(squad=squad, kind=CredentialKind.USERNAME_PASSWORD, username="dba")
    credential_set_secrets(credential=login, secrets={"password": DB_PASSWORD})
    runbook.credentials.set([login])
    product = ProductFactory(squad=squad, runbook=runbook, form_schema=FORM)
    return order_submit(
        requester=requester, product=product, inputs={"api_token": API_TOKEN, "pin": PIN, "name": "billing"}
    )


def pieces(secret: str, size: int = 12) -> Iterator[str]:
    """Every run of ``size`` characters of ``secret``: a cut excerpt shows one."""
    for start in range(len(secret) - size + 1):
        yield secret[start : start + size]


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif value is not None:
        yield str(value)


def stored_output(order: Order, client: Any) -> list[str]:
    run = order.current_run
    texts = [run.failure_reason, order.failure_reason, json.dumps(order.inputs)]
    texts += list(order.events.values_list("note", flat=True))
    for event in RunEvent.objects.filter(run=run):
        texts += [event.stdout, event.task, event.host, *strings(event.event_data)]
    response = client.get(f"/orders/{order.pk}/runs/{run.pk}/log.txt")
    assert response.status_code == 200
    texts.append(b"".join(response.streaming_content).decode())
    return texts


def leaks(texts: list[str]) -> list[tuple[str, str]]:
    found = []
    for secret in (API_TOKEN, PIN, DB_PASSWORD):
        for piece in pieces(secret, min(12, len(secret))):
            found += [(piece, text) for text in texts if piece in text]
    return found


@pytest.mark.parametrize("playbook", [FAILING_TASK, REFUSED_PLAYBOOK], ids=["task fails", "ansible refuses"])
def test_a_secret_on_a_line_ansible_quotes_reaches_no_stored_output(dirs, client, squad, requester, playbook):
    order = order_for(squad, requester, playbook)

    order = order_execute(order_id=order.pk)

    assert order.status == OrderStatus.FAILED
    run = order.current_run
    # Ansible did warn about the input named "name" (the case that quotes
    # the lines of the file it came from)...
    assert RunEvent.objects.filter(run=run, stdout__contains="reserved name 'name'").exists()
    # ...and nothing it printed shows a secret, whole or in part.
    client.force_login(requester)
    assert leaks(stored_output(order, client)) == []
