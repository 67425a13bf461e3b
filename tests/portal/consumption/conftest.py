from __future__ import annotations

import pytest

from tests.consumption import unit


@pytest.fixture
def finance(requester):
    """The requester's only business unit."""
    return unit("finance", requester, name="Finance", cost_centre="CC-100")


@pytest.fixture
def logistics(db):
    return unit("logistics", name="Logistics", cost_centre="CC-200")
