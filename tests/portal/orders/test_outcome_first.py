"""Outcome first: the order page leads with what the runbook told the
requester (``set_stats`` ``squadron.result``), or with the step that failed
and what to do; Ansible's figures wait under "Technical details"; Retry is
offered only where a retry can succeed. Real runs (ansible-runner)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from portal.orders.choices import OrderStatus
from portal.orders.errors import IllegalTransition
from portal.orders.execution import order_execute, order_retry
from portal.orders.models import Order
from portal.orders.submission import order_submit
from runbooks.choices import FailureKind
from runbooks.models import RunEvent
from tests.factories import ProductFactory, RunbookFactory
from tests.runbooks import use_private_dirs

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

FORM = {
    "type": "object",
    "required": ["vlan_id"],
    "properties": {
        "vlan_id": {"type": "integer", "title": "VLAN ID"},
        "token": {"type": "string", "x-secret": True},
    },
}

REPORTING = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Configure the VLAN
      ansible.builtin.debug:
        msg: "configuring {{ vlan_id }}"
    - name: Tell the requester
      ansible.builtin.set_stats:
        data:
          squadron:
            result:
              summary: >-
                VLAN **{{ vlan_id }}** is configured on 2 access switches of ams1
                (token {{ token }}). <script>alert(1)</script>
              links:
                - {title: Switch report, url: "https://net.example.com/vlans/{{ vlan_id }}"}
                - {title: Evil, url: "javascript:alert(1)"}
              colour: blue
"""

REFUSING = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Refuse a VLAN ID already used at this site
      ansible.builtin.assert:
        that: vlan_id | int != 120
        fail_msg: "VLAN 120 already exists at ams1 under another name; pick another ID."
        quiet: true
"""

BREAKING = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Push the configuration
      ansible.builtin.command: /bin/false
"""


@pytest.fixture
def dirs(settings, tmp_path):
    return use_private_dirs(settings, tmp_path)


def run_order(squad: Any, requester: Any, playbook: str, **inputs: Any) -> Order:
    runbook = RunbookFactory(squad=squad, playbook=playbook)
    product = ProductFactory(squad=squad, runbook=runbook, form_schema=FORM)
    order = order_submit(requester=requester, product=product, inputs={"vlan_id": 120, **inputs})
    finished = order_execute(order_id=order.pk)
    assert finished is not None
    return finished


def page(requester: Any, order: Order) -> str:
    client = Client()
    client.force_login(requester)
    response = client.get(f"/orders/{order.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_page_leads_with_the_result_the_runbook_reported(dirs, squad, requester):
    order = run_order(squad, requester, REPORTING, token="tok-Very-Secret-991")

    assert order.status == OrderStatus.SUCCEEDED
    # Masked as the run's output is; the bad link and unknown key left out.
    assert order.result == {
        "summary": "VLAN **120** is configured on 2 access switches of ams1 (token ********). "
        "<script>alert(1)</script>",
        "links": [{"title": "Switch report", "url": "https://net.example.com/vlans/120"}],
    }
    said = "\n".join(RunEvent.objects.filter(run=order.current_run).values_list("stdout", flat=True))
    assert "Link 2 ignored" in said and "colour" in said
    html = page(requester, order)
    result = html.split('id="order-result"')[1].split("</div>")[0]
    assert "VLAN <strong>120</strong> is configured on 2 access switches of ams1" in result
    assert "<script>" not in result and "tok-Very-Secret-991" not in html
    assert 'href="https://net.example.com/vlans/120"' in result
    # The result comes before Ansible's figures, which are folded away.
    assert html.index('id="order-result"') < html.index('<details class="technical">')
    technical = html.split('<details class="technical">')[1].split("</details>")[0]
    assert "Return code" in technical and "<caption>Hosts</caption>" in technical
    assert "Return code" not in html.split('<details class="technical">')[0]


def test_the_api_carries_the_result(dirs, squad, requester):
    order = run_order(squad, requester, REPORTING, token="tok-Very-Secret-991")
    client = Client()
    client.force_login(requester)
    for body in (
        client.get(f"/api/v1/orders/{order.pk}/").json(),
        client.get("/api/v1/orders/").json()["results"][0],
    ):
        assert body["result"]["summary"].startswith("VLAN **120** is configured")
        assert body["result"]["links"] == [
            {"title": "Switch report", "url": "https://net.example.com/vlans/120"}
        ]
        assert body["result"]["failed_step"] == "" and body["result"]["retry_can_help"] is True


def test_inputs_the_runbook_refuses_are_said_plainly_and_offer_no_retry(dirs, squad, requester):
    order = run_order(squad, requester, REFUSING)

    assert order.status == OrderStatus.FAILED
    assert order.failed_step == "Refuse a VLAN ID already used at this site"
    assert order.failure_kind == FailureKind.REFUSED
    html = page(requester, order)
    status = html.split('class="status-line"')[1].split("</p>")[0]
    assert "Failed at the step “Refuse a VLAN ID already used at this site”:" in status
    assert "VLAN 120 already exists at ams1 under another name; pick another ID." in status
    assert "on host localhost" not in status
    assert "change them and order again" in html
    assert f'action="/orders/{order.pk}/retry/"' not in html
    assert "Order again with these details" in html
    # Neither the page nor the API nor the service runs it again.
    client = Client()
    client.force_login(requester)
    assert (
        client.post(f"/api/v1/orders/{order.pk}/retry/", {}, content_type="application/json").status_code
        == 409
    )
    with pytest.raises(IllegalTransition, match="refused these details"):
        order_retry(order=order, actor=requester)
    order.refresh_from_db()
    assert order.status == OrderStatus.FAILED and order.attempts == 1
    assert client.get(f"/api/v1/orders/{order.pk}/").json()["result"]["retry_can_help"] is False


def test_a_step_that_broke_offers_a_retry_which_forgets_the_failure(dirs, squad, requester):
    order = run_order(squad, requester, BREAKING)

    assert order.status == OrderStatus.FAILED
    assert order.failed_step == "Push the configuration" and order.failure_kind == FailureKind.TASK
    html = page(requester, order)
    assert "Failed at the step “Push the configuration”" in html
    assert f'action="/orders/{order.pk}/retry/"' in html and "may get through" in html

    retried = order_retry(order=order, actor=requester)

    assert retried.status == OrderStatus.QUEUED
    assert (retried.failed_step, retried.failure_kind, retried.result) == ("", "", {})
