"""Fixtures of the catalogue's tests."""

from __future__ import annotations

import pytest

from catalogue.models import Product
from squads.choices import Role
from tests.factories import CategoryFactory, MembershipFactory, ProductFactory, SquadFactory, UserFactory


@pytest.fixture
def product(draft_product: Product) -> Product:
    """The catalogue's tests curate the draft product New VLAN; the base
    cast's ``product`` is the one the portal's tests order."""
    return draft_product


@pytest.fixture
def existing(db: None) -> dict[str, object]:
    """Rows already in the database that a failed import must leave as they are."""
    nora = UserFactory(username="nora")
    squad = SquadFactory(slug="network", name="Old Network Squad")
    MembershipFactory(user=nora, squad=squad, role=Role.SME)
    product = ProductFactory(slug="firewall", squad=squad, category=CategoryFactory(slug="security"))
    return {"nora": nora, "squad": squad, "product": product}
