#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Squadron maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: instance_info
short_description: Read service instances of a Squadron portal
version_added: 1.0.0
description:
  - Reads one instance with its history and the operations you may order now, or lists the
    instances you may see, newest first.
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
      - Id of the instance to read. Without it, the instances are listed.
    type: int
  name:
    description:
      - List only the instances of this name (matched exactly).
    type: str
  product:
    description:
      - List only the instances of this product (slug).
    type: str
  state:
    description:
      - List only the instances in these states.
    type: list
    elements: str
  limit:
    description:
      - List at most this many instances; with O(name), at most this many of that name, however many
        other instances are newer.
    type: int
    default: 100
"""

EXAMPLES = r"""
- name: Read an instance and the operations it offers
  squadron.portal.instance_info:
    id: 7
  register: found

- name: Find the namespace named billing-dev
  squadron.portal.instance_info:
    product: k8s-namespace
    name: billing-dev
    state: [active]
  register: namespaces
"""

RETURN = r"""
instance:
  description: The instance, as C(GET /api/v1/instances/{id}/) shows it (with C(operations) and C(history)).
  returned: when O(id) is given
  type: dict
  sample: {"id": 7, "name": "billing-dev", "state": "active", "operations": [{"slug": "delete"}]}
instances:
  description: The instances found, as C(GET /api/v1/instances/) lists them, newest first.
  returned: when O(id) is not given
  type: list
  elements: dict
  sample: [{"id": 7, "name": "billing-dev", "state": "active"}]
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
        name=dict(type="str"),
        product=dict(type="str"),
        state=dict(type="list", elements="str"),
        limit=dict(type="int", default=100),
    )
    module = AnsibleModule(
        argument_spec=spec, supports_check_mode=True, mutually_exclusive=[("id", "name"), ("id", "product")]
    )
    params = module.params
    client = client_from(params)
    try:
        if params["id"] is not None:
            module.exit_json(changed=False, instance=client.get(path_of("instances", params["id"])))
        query = {}
        if params["product"]:
            query["product"] = params["product"]
        if params["state"]:
            query["state"] = params["state"]
        name = params["name"]
        if name is not None:
            query["name"] = name
        # Filtered here too, as the pages come: a portal older than its name
        # filter ignores the parameter, and the limit counts only that name.
        found = client.pages(
            "api/v1/instances/",
            query=query,
            limit=params["limit"],
            keep=None if name is None else lambda item: item.get("name") == name,
        )
        module.exit_json(changed=False, instances=found)
    except SquadronError as error:
        module.fail_json(msg=str(error), status=error.status, answer=error.body)


if __name__ == "__main__":
    main()
