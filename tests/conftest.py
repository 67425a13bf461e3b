"""The base cast every test can use: a requester, a squad member, a member of
another squad, an outsider and an admin (STYLE.md), plus their squads."""

from __future__ import annotations

import shutil

import pytest

from squads.choices import Role
from tests.factories import MembershipFactory, SquadFactory, UserFactory


@pytest.fixture
def squad(db):
    return SquadFactory(slug="network", name="Network Squad")


@pytest.fixture
def other_squad(db):
    return SquadFactory(slug="compute", name="Compute Squad")


@pytest.fixture
def requester(db):
    return UserFactory(username="rita")


@pytest.fixture
def member(squad):
    return MembershipFactory(user=UserFactory(username="nora"), squad=squad, role=Role.PRODUCT_OWNER).user


@pytest.fixture
def other_member(other_squad):
    return MembershipFactory(user=UserFactory(username="otto"), squad=other_squad, role=Role.ENGINEER).user


@pytest.fixture
def outsider(db):
    return UserFactory(username="oscar")


@pytest.fixture
def admin_user(db):
    return UserFactory(username="ada", is_staff=True, is_superuser=True)


@pytest.fixture(scope="session", autouse=True)
def _private_broker_queue():
    """Drop this process's test queue from the broker when the session ends."""
    yield
    from django.conf import settings

    from portal.celery import app

    try:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_delete(settings.CELERY_TASK_DEFAULT_QUEUE)
    except Exception:  # noqa: BLE001, S110 - best effort clean-up of a broker we may never have used
        pass
    shutil.rmtree(settings.VAR_DIR, ignore_errors=True)
