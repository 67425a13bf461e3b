#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Squadron maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: instance
short_description: Run a day-2 operation on a service instance of a Squadron portal, and wait for it
version_added: 1.0.0
description:
  - Orders one of the day-2 operations an instance offers (change it, extend it, delete it...)
    and by default waits until that order ends.
  - The inputs take the types of the operation's form, as M(squadron.portal.order) does; a field
    left out takes the instance's attribute of the same name, on the portal.
  - Idempotent as M(squadron.portal.order) is, through an C(Idempotency-Key) made from the
    instance, the operation, the inputs and O(idempotency_key). An instance already
    decommissioned is left alone when O(operation) is its delete operation.
author:
  - Squadron maintainers (@squadron)
extends_documentation_fragment:
  - squadron.portal.auth
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying the portal.
    support: full
    details: Reads the instance and checks the operation is offered now, and orders nothing.
  diff_mode:
    description: Returns no diff.
    support: none
options:
  id:
    description:
      - Id of the instance.
    type: int
    required: true
  operation:
    description:
      - Slug of the operation to run, one of those the instance offers you now
        (its C(operations), see M(squadron.portal.instance_info)).
    type: str
    required: true
  inputs:
    description:
      - Values for the operation's form, by field name.
    type: dict
    default: {}
  business_unit:
    description:
      - Slug of the business unit; an operation counts against the instance's own, so this
        is rarely needed.
    type: str
  idempotency_key:
    description:
      - Part of the C(Idempotency-Key). Change it to run the same operation with the same
        inputs again.
    type: str
    default: ""
  wait:
    description:
      - Wait until the order ends, and fail unless it succeeded.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the order to end before failing.
    type: int
    default: 1800
  poll_interval:
    description:
      - Seconds between two reads of the order while waiting.
    type: float
    default: 2.0
"""

EXAMPLES = r"""
- name: Give the namespace more memory
  squadron.portal.instance:
    id: "{{ ordered.instance.id }}"
    operation: change-quota
    inputs:
      cpu_cores: 4
      memory_gib: "16"

- name: Decommission it
  squadron.portal.instance:
    id: "{{ ordered.instance.id }}"
    operation: delete
"""

RETURN = r"""
order:
  description: The order of the operation as the API shows it, as it ended when O(wait) is set.
  returned: when an order was placed or replayed, not in check mode
  type: dict
  sample: {"id": 43, "status": "succeeded", "operation": "change-quota"}
instance:
  description: The instance as the API shows it (C(GET /api/v1/instances/{id}/)), after the order when O(wait) is set.
  returned: always
  type: dict
  sample: {"id": 7, "name": "billing-dev", "state": "active", "attributes": {"memory_gib": 16}}
inputs:
  description: The inputs sent, typed as the operation's form asks.
  returned: always
  type: dict
  sample: {"memory_gib": 16}
idempotency_key:
  description: The C(Idempotency-Key) the order was (or would be) placed with.
  returned: when an order was placed, replayed or would be
  type: str
  sample: squadron.portal-0c1d...
replayed:
  description: Whether the portal answered an order placed earlier with the same key.
  returned: when an order was placed or replayed, not in check mode
  type: bool
  sample: false
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.squadron.portal.plugins.module_utils.api import (
    SquadronError,
    client_from,
    coerce_inputs,
    connection_spec,
    path_of,
    ended_message,
    idempotency_key,
    ordering_spec,
)


def main():
    spec = connection_spec()
    spec.update(
        id=dict(type="int", required=True), operation=dict(type="str", required=True), **ordering_spec()
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    params = module.params
    client = client_from(params)
    path = path_of("instances", params["id"])
    try:
        instance = client.get(path)
        offered = dict((item["slug"], item) for item in instance.get("operations", []))
        operation = offered.get(params["operation"])
        if operation is None and instance["state"] == "decommissioned" and deleted_by(
            client, instance, params["operation"]
        ):
            module.exit_json(changed=False, instance=instance, inputs=params["inputs"])
        # An operation not offered now is still sent: under the same key the
        # portal answers the order this task placed before (a re-run while
        # it works on the instance); otherwise it says why not.
        form = operation.get("form_schema") if operation else None
        inputs = coerce_inputs(params["inputs"], form)
        key = idempotency_key(
            {"instance": params["id"], "operation": params["operation"]},
            inputs,
            params["business_unit"],
            params["idempotency_key"],
        )
        if module.check_mode:
            if operation is None:
                module.fail_json(
                    msg="%s does not offer %r now (it offers: %s)"
                    % (instance["name"], params["operation"], ", ".join(sorted(offered)) or "nothing"),
                    instance=instance,
                )
            module.exit_json(changed=True, instance=instance, inputs=inputs, idempotency_key=key)
        order, replayed = client.place(
            path + "operations/",
            {"operation": params["operation"], "inputs": inputs},
            params["business_unit"],
            key,
        )
        result = dict(changed=not replayed, replayed=replayed, inputs=inputs, idempotency_key=key)
        if params["wait"]:
            order = client.wait_for_order(order, params["wait_timeout"], params["poll_interval"])
        result.update(order=order, instance=client.get(path))
        if params["wait"] and order["status"] != "succeeded":
            module.fail_json(msg=ended_message(order), **result)
        module.exit_json(**result)
    except SquadronError as error:
        module.fail_json(msg=str(error), status=error.status, answer=error.body)


def deleted_by(client, instance, operation):
    """Whether ``instance`` (decommissioned) ended through an order of
    ``operation``: asking for it again has nothing left to do."""
    for event in reversed(instance.get("history", [])):
        if event.get("to_state") == "decommissioned":
            if event.get("order") is None:
                return False
            order = client.get(path_of("orders", event["order"]))
            return order.get("operation") == operation
    return False


if __name__ == "__main__":
    main()
