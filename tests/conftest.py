"""The base cast every test can use: a requester, a squad member, a member of
another squad, an outsider and an admin (STYLE.md), plus their squads."""

from __future__ import annotations

import contextlib
import shutil
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client

from catalogue.choices import ApprovalPolicy, Fulfilment
from catalogue.models import ApprovalStep, Category, Product
from runbooks.models import Credential, Runbook
from runbooks.services import credential_set_secrets
from squads.choices import Role
from squads.models import Squad
from tests.admin_forms import ROLES
from tests.factories import (
    CategoryFactory,
    CredentialFactory,
    MembershipFactory,
    ProductFactory,
    RunbookFactory,
    SquadFactory,
    UserFactory,
)
from tests.runbooks import playbook

# The real identity servers the login tests start: an OpenID provider
# (``openid_provider``) and an OpenLDAP (``ldap_directory``, tests/ldap_directory.py).
pytest_plugins = ["tests.portal.identity.openid_provider", "tests.ldap_directory"]


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
    """Drop this process's test queues (orders, webhooks) from the broker when the session ends."""
    yield
    from django.conf import settings

    from portal.celery import queue_drop

    # Best effort: a broker this session never used may not answer.
    with contextlib.suppress(Exception):
        queue_drop(settings.CELERY_TASK_DEFAULT_QUEUE)
    with contextlib.suppress(Exception):
        queue_drop(settings.SQUADRON_WEBHOOK_QUEUE)
    shutil.rmtree(settings.VAR_DIR, ignore_errors=True)


# --- Products of the base cast's squad (portal, API and browser tests) ---------

FORM = {
    "type": "object",
    "required": ["hostname"],
    "properties": {
        "hostname": {"type": "string", "title": "Host name", "format": "hostname", "maxLength": 63},
        "size": {"type": "integer", "minimum": 1, "maximum": 64, "default": 2},
        "token": {"type": "string", "x-secret": True, "minLength": 4},
    },
}


@pytest.fixture
def product(squad):
    return ProductFactory(slug="vm", name="Virtual machine", squad=squad, form_schema=FORM)


@pytest.fixture
def approval_product(squad):
    return ProductFactory(
        slug="firewall",
        name="Firewall rule",
        squad=squad,
        form_schema=FORM,
        approval_policy=ApprovalPolicy.SQUAD,
    )


@pytest.fixture
def manual_product(squad):
    return ProductFactory(
        slug="database",
        name="Database",
        squad=squad,
        form_schema=FORM,
        fulfilment=Fulfilment.MANUAL,
        runbook=None,
    )


@pytest.fixture
def two_steps(squad, other_squad):
    """A product approved in two steps: its squad's product owners, then any
    member of the other squad; its runbook supports check mode (dry runs)."""
    runbook = RunbookFactory(squad=squad, playbook=playbook("check"), supports_check_mode=True)
    product = ProductFactory(
        slug="fw",
        name="Firewall",
        squad=squad,
        runbook=runbook,
        form_schema={"type": "object", "properties": {"label": {"type": "string"}}},
        approval_policy=ApprovalPolicy.STEPS,
    )
    ApprovalStep.objects.create(product=product, position=0, name="Squad review", roles=["product_owner"])
    ApprovalStep.objects.create(product=product, position=1, name="Compute sign-off", squad=other_squad)
    return product


@pytest.fixture
def engineer(squad):
    """A member of the owning squad who is neither product owner nor SME."""
    return MembershipFactory(user=UserFactory(username="eddie"), squad=squad, role=Role.ENGINEER).user


@pytest.fixture
def jonas(squad):
    """A second product owner of the base squad (two people deciding at once)."""
    return MembershipFactory(
        user=UserFactory(username="jonas", first_name="Jonas", last_name="Berg"),
        squad=squad,
        role=Role.PRODUCT_OWNER,
    ).user


@pytest.fixture
def squad_twice(squad):
    """Two steps the same people may decide (one person counts once, so two
    product owners are needed): the case where a stale click would land on
    the wrong step."""
    product = ProductFactory(
        slug="fw2",
        name="Firewall",
        squad=squad,
        approval_policy=ApprovalPolicy.STEPS,
        form_schema={"type": "object", "properties": {"label": {"type": "string"}}},
    )
    roles = [Role.PRODUCT_OWNER, Role.SME]
    ApprovalStep.objects.create(product=product, position=0, name="Squad review", roles=roles)
    ApprovalStep.objects.create(product=product, position=1, name="Second look", roles=roles)
    return product


# --- What squads curate in the admin (the admin tests of every app) ------------


@pytest.fixture
def category(db: None) -> Category:
    return CategoryFactory(slug="network", name="Network")


@pytest.fixture
def runbook(squad: Squad) -> Runbook:
    return RunbookFactory(squad=squad, slug="create-vlan", name="Create VLAN")


@pytest.fixture
def other_runbook(other_squad: Squad) -> Runbook:
    return RunbookFactory(squad=other_squad, slug="create-vm", name="Create VM")


@pytest.fixture
def draft_product(squad: Squad, runbook: Runbook, category: Category) -> Product:
    """New VLAN, a draft of the squad on its runbook: what the admin tests
    curate (the catalogue's tests know it as ``product``)."""
    return ProductFactory(
        squad=squad, runbook=runbook, category=category, slug="vlan", name="New VLAN", status="draft"
    )


@pytest.fixture
def credential(squad: Squad) -> Credential:
    credential = CredentialFactory(squad=squad, slug="switch-token", name="Switch token", kind="token_env")
    credential_set_secrets(credential=credential, secrets={"env": {"SWITCH_TOKEN": "s3cr3t-network"}})
    return credential


@pytest.fixture
def two_squad_member(squad: Squad, other_squad: Squad) -> AbstractBaseUser:
    user = UserFactory(username="tess")
    MembershipFactory(user=user, squad=squad, role=Role.ENGINEER)
    MembershipFactory(user=user, squad=other_squad, role=Role.ENGINEER)
    return user


@pytest.fixture
def member_client(client: Client, member: Any) -> Client:
    client.force_login(member)
    return client


@pytest.fixture(params=ROLES)
def role(request: pytest.FixtureRequest, client: Client) -> str:
    """Logs ``client`` in as the role (or not at all for anonymous)."""
    if request.param != "anonymous":
        client.force_login(request.getfixturevalue(request.param))
    return request.param


# --- A product that creates instances, with its operations (tests/instances.py) ------


@pytest.fixture
def database(squad):
    from tests.instances import make_database

    return make_database(squad)


@pytest.fixture
def approved_resize(database):
    """The database's resize needs the squad's approval."""
    operation = database.operations.get(slug="resize")
    operation.approval_policy = ApprovalPolicy.SQUAD
    operation.save()
    return operation
