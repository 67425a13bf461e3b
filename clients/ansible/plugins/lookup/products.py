# -*- coding: utf-8 -*-
# Copyright: Squadron maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: products
short_description: Products of a Squadron portal's catalogue
version_added: 1.0.0
description:
  - Without terms, the published products of the catalogue (slug, name, squad, SLA...).
  - With terms, each named product (by slug) with its C(form_schema), the JSON Schema of the
    inputs an order of it takes.
author:
  - Squadron maintainers (@squadron)
options:
  _terms:
    description: Slugs of the products to read; none to list the catalogue.
    required: false
    type: list
    elements: str
  url:
    description: Base address of the portal.
    type: str
    required: true
    env:
      - name: SQUADRON_URL
  token:
    description: An API token of the user to read the catalogue as.
    type: str
    required: true
    env:
      - name: SQUADRON_TOKEN
  validate_certs:
    description: Whether to check the portal's TLS certificate.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for each answer of the portal.
    type: int
    default: 30
"""

EXAMPLES = r"""
- name: The catalogue's slugs
  ansible.builtin.debug:
    msg: "{{ query('squadron.portal.products') | map(attribute='slug') }}"

- name: The fields the namespace's form asks for
  ansible.builtin.debug:
    msg: "{{ lookup('squadron.portal.products', 'k8s-namespace').form_schema.properties.keys() }}"
"""

RETURN = r"""
_list:
  description: The products, as C(GET /api/v1/products/) lists them or, for each term, as
    C(GET /api/v1/products/{slug}/) shows it.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase
from ansible_collections.squadron.portal.plugins.module_utils.api import SquadronClient, SquadronError, path_of


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        client = SquadronClient(
            self.get_option("url"),
            self.get_option("token"),
            validate_certs=self.get_option("validate_certs"),
            timeout=self.get_option("timeout"),
        )
        try:
            if not terms:
                return client.pages("api/v1/products/")
            return [client.get(path_of("products", slug)) for slug in terms]
        except SquadronError as error:
            raise AnsibleError(str(error))
