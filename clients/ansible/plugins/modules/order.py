#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Squadron maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: order
short_description: Place an order for a product of a Squadron portal, and wait for it
version_added: 1.0.0
description:
  - Places an order for a product of the portal's catalogue with the inputs its form asks for,
    and by default waits until the order ends.
  - The inputs take the types of the product's form (read from the portal first), so C("3901")
    reaches an integer field as V(3901) and C("true") a boolean field as V(true), whether they
    came from C(-e), a template or a file.
  - Idempotent. The order is sent with an C(Idempotency-Key) made from the product, the inputs,
    the business unit and O(idempotency_key); running the same task again answers the order it
    placed the first time (C(changed) is V(false)) instead of placing another. The portal keeps
    keys for 24 hours; give another O(idempotency_key) to ask for a second, identical order.
author:
  - Squadron maintainers (@squadron)
extends_documentation_fragment:
  - squadron.portal.auth
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying the portal.
    support: full
    details: Reads the product and coerces the inputs, and places nothing.
  diff_mode:
    description: Returns no diff.
    support: none
options:
  product:
    description:
      - Slug of the product to order.
    type: str
    required: true
  inputs:
    description:
      - Values for the product's form, by field name.
    type: dict
    default: {}
  business_unit:
    description:
      - Slug of the business unit the order is for; needed only when you belong to several.
    type: str
  idempotency_key:
    description:
      - Part of the C(Idempotency-Key). Leave it out to have one order per distinct request;
        change it to place another order with the same inputs.
    type: str
    default: ""
  wait:
    description:
      - Wait until the order ends (succeeded, failed, timed out, rejected or cancelled), and fail
        unless it succeeded.
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
- name: Order a namespace and wait until it is made
  squadron.portal.order:
    url: https://squadron.example.com
    token: "{{ squadron_token }}"
    product: k8s-namespace
    inputs:
      namespace_name: billing-dev
      team_email: billing@example.com
      memory_gib: "{{ memory }}"  # "8" from -e reaches the portal as 8
  register: ordered

- name: Show the instance it made
  ansible.builtin.debug:
    msg: "{{ ordered.instance.name }} is {{ ordered.instance.state }}"

- name: Place a second, identical order (another key)
  squadron.portal.order:
    product: k8s-namespace
    inputs:
      namespace_name: billing-test
      team_email: billing@example.com
    idempotency_key: second
    wait: false
  environment:
    SQUADRON_URL: https://squadron.example.com
    SQUADRON_TOKEN: "{{ squadron_token }}"
"""

RETURN = r"""
order:
  description: The order as the API shows it (C(GET /api/v1/orders/{id}/)), as it ended when O(wait) is set.
  returned: success, not in check mode
  type: dict
  sample: {"id": 42, "status": "succeeded", "product": {"slug": "k8s-namespace", "name": "Kubernetes namespace"}}
instance:
  description: The instance the order made (C(GET /api/v1/instances/{id}/)), when it made one and O(wait) is set.
  returned: when the order made an instance and O(wait) is set
  type: dict
  sample: {"id": 7, "name": "billing-dev", "state": "active"}
inputs:
  description: The inputs sent, typed as the product's form asks.
  returned: always
  type: dict
  sample: {"namespace_name": "billing-dev", "memory_gib": 8}
idempotency_key:
  description: The C(Idempotency-Key) the order was (or would be) placed with.
  returned: always
  type: str
  sample: squadron.portal-5f2b1c0e...
replayed:
  description: Whether the portal answered an order placed earlier with the same key, instead of placing one.
  returned: success, not in check mode
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
    spec.update(product=dict(type="str", required=True), **ordering_spec())
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    params = module.params
    client = client_from(params)
    try:
        product = client.get(path_of("products", params["product"]))
        inputs = coerce_inputs(params["inputs"], product.get("form_schema"))
        key = idempotency_key(
            {"product": params["product"]}, inputs, params["business_unit"], params["idempotency_key"]
        )
        if module.check_mode:
            module.exit_json(changed=True, inputs=inputs, idempotency_key=key)
        order, replayed = client.place(
            "api/v1/orders/", {"product": params["product"], "inputs": inputs}, params["business_unit"], key
        )
        result = dict(changed=not replayed, replayed=replayed, inputs=inputs, idempotency_key=key)
        if not params["wait"]:
            module.exit_json(order=order, **result)
        order = client.wait_for_order(order, params["wait_timeout"], params["poll_interval"])
        result["order"] = order
        if order.get("instance") is not None:
            result["instance"] = client.get(path_of("instances", order["instance"]))
        if order["status"] != "succeeded":
            module.fail_json(msg=ended_message(order), **result)
        module.exit_json(**result)
    except SquadronError as error:
        module.fail_json(msg=str(error), status=error.status, answer=error.body)


if __name__ == "__main__":
    main()
