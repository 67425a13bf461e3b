#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Squadron maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: order_info
short_description: Read orders of a Squadron portal
version_added: 1.0.0
description:
  - Reads one order with its history, or lists the orders you may see (yours and your squads'),
    newest first.
author:
  - Squadron maintainers (@squadron)
extends_documentation_fragment:
  - squadron.portal.auth
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying the portal.
    support: full
    details: Only reads.
  diff_mode:
    description: Returns no diff.
    support: none
options:
  id:
    description:
      - Id of the order to read. Without it, the orders are listed.
    type: int
  product:
    description:
      - List only the orders of this product (slug).
    type: str
  status:
    description:
      - List only the orders in these statuses.
    type: list
    elements: str
  limit:
    description:
      - List at most this many orders.
    type: int
    default: 100
"""

EXAMPLES = r"""
- name: Read an order
  squadron.portal.order_info:
    id: 42
  register: found

- name: The namespaces that failed
  squadron.portal.order_info:
    product: k8s-namespace
    status: [failed, timed_out]
  register: failures
"""

RETURN = r"""
order:
  description: The order, as C(GET /api/v1/orders/{id}/) shows it.
  returned: when O(id) is given
  type: dict
  sample: {"id": 42, "status": "succeeded", "history": []}
orders:
  description: The orders found, as C(GET /api/v1/orders/) lists them, newest first.
  returned: when O(id) is not given
  type: list
  elements: dict
  sample: [{"id": 42, "status": "succeeded"}]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.squadron.portal.plugins.module_utils.api import (
    SquadronError,
    client_from,
    connection_spec,
    path_of,
)


def main():
    spec = connection_spec()
    spec.update(
        id=dict(type="int"),
        product=dict(type="str"),
        status=dict(type="list", elements="str"),
        limit=dict(type="int", default=100),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True, mutually_exclusive=[("id", "product")])
    params = module.params
    client = client_from(params)
    try:
        if params["id"] is not None:
            module.exit_json(changed=False, order=client.get(path_of("orders", params["id"])))
        query = {}
        if params["product"]:
            query["product"] = params["product"]
        if params["status"]:
            query["status"] = params["status"]
        orders = client.pages("api/v1/orders/", query=query, limit=params["limit"])
        module.exit_json(changed=False, orders=orders)
    except SquadronError as error:
        module.fail_json(msg=str(error), status=error.status, answer=error.body)


if __name__ == "__main__":
    main()
