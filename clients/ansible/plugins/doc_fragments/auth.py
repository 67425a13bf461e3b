# -*- coding: utf-8 -*-
# Copyright: Squadron maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """How every module of squadron.portal reaches the portal."""

    DOCUMENTATION = r"""
options:
  url:
    description:
      - Base address of the portal, for example C(https://squadron.example.com).
      - Read from the E(SQUADRON_URL) environment variable when not given.
    type: str
    required: true
  token:
    description:
      - An API token of the user the task acts as (made on the portal's API tokens page).
      - Read from the E(SQUADRON_TOKEN) environment variable when not given.
    type: str
    required: true
  validate_certs:
    description:
      - Whether to check the portal's TLS certificate. Turn it off only for a test portal.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for each answer of the portal.
    type: int
    default: 30
"""
