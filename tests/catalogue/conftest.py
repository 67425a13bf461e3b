"""Fixtures of the catalogue's tests."""

from __future__ import annotations

import pytest

from catalogue.models import Product


@pytest.fixture
def product(draft_product: Product) -> Product:
    """The catalogue's tests curate the draft product New VLAN; the base
    cast's ``product`` is the one the portal's tests order."""
    return draft_product
