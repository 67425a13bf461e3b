"""Each audited kind, changed once through the path people use (admin, API,
service, catalogue import, task), is on the trail with who, from where,
via what, and before -> after; secrets never with their values."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from celery import Task
from celery.signals import task_postrun, task_prerun
from django.contrib.auth.models import User
from django.test import Client, RequestFactory, override_settings
from rest_framework.test import APIClient

from catalogue.models import ChoiceItem, ChoiceList, Operation, Product
from portal.audit.context import Acting, Via, acting
from portal.audit.models import AuditEntry
from portal.consumption.models import BusinessUnit, BusinessUnitMembership, Quota
from portal.consumption.services import QuotaLimit, business_unit_create, business_unit_update, quota_set
from portal.identity.models import OidcIdentity
from portal.identity.oidc_accounts import oidc_account_deactivate
from portal.integrations.models import ApiToken, WebhookSubscription
from portal.integrations.tokens import token_create
from portal.integrations.webhooks.subscriptions import webhook_rotate_secret
from runbooks.crypto import encrypt_json
from runbooks.models import Credential, Runbook, RunbookVersion
from runbooks.services import credential_set_secrets, runbook_set_playbook
from squads.choices import Role
from squads.models import Chapter, Membership, Squad
from squads.services import membership_update, squad_update
from tests.admin_forms import admin_url, credential_data, product_data
from tests.catalogue.catalogue_files import VALID, run_import, variant
from tests.factories import MembershipFactory, SquadFactory, UserFactory

pytestmark = pytest.mark.django_db

PLAYBOOK = "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - ansible.builtin.debug: {msg: hi}\n"


def last(model: Any, action: str | None = None) -> AuditEntry:
    entries = AuditEntry.objects.filter(object_type=model._meta.label_lower)
    if action:
        entries = entries.filter(action=action)
    entry = entries.order_by("-id").first()
    assert entry is not None, f"no {action or ''} entry about {model._meta.label_lower}"
    return entry


def as_user(user: User, address: str = "203.0.113.9", via: str = Via.WEB) -> Any:
    """Act as ``user`` from ``address``, as the middleware does for a request."""
    request = RequestFactory().get("/", REMOTE_ADDR=address)
    request.user = user
    return acting(Acting(via=via, request=request))


# --- Through the admin: field diffs, the curator, their address ----------------------


def test_an_admin_edit_of_a_product_records_each_field_before_and_after(
    member_client: Client, member: User, product: Product
) -> None:
    old_name = product.name
    response = member_client.post(
        admin_url(Product, "change", product.pk),
        product_data(product, name="Bigger VLAN", sla_minutes=45),
        REMOTE_ADDR="192.0.2.44",
    )

    assert response.status_code == 302
    entry = last(Product, "changed")
    assert entry.changes["name"] == {"before": old_name, "after": "Bigger VLAN"}
    assert entry.changes["sla_minutes"]["after"] == 45
    assert (entry.actor, entry.actor_id, entry.via, entry.address) == (
        member.username,
        member.pk,
        "admin",
        "192.0.2.44",
    )
    assert entry.object_id == str(product.pk) and entry.object_repr


@override_settings(SQUADRON_TRUSTED_PROXY_HEADER="X-Forwarded-For")
def test_behind_the_proxy_the_address_is_the_one_the_proxy_wrote(
    member_client: Client, product: Product
) -> None:
    member_client.post(
        admin_url(Product, "change", product.pk),
        product_data(product, summary="Now tagged"),
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7",
    )

    assert last(Product, "changed").address == "198.51.100.7"


def test_an_admin_edit_of_a_credential_says_the_secret_changed_never_its_value(
    member_client: Client, member: User, squad: Squad
) -> None:
    credential = Credential.objects.create(
        slug="router", name="Router", squad=squad, kind="username_password"
    )
    credential_set_secrets(credential=credential, secrets={"password": "first-secret-value"})

    response = member_client.post(
        admin_url(Credential, "change", credential.pk),
        credential_data(credential, name="Core router", password="hunter2-top-secret"),
    )

    assert response.status_code == 302
    entries = AuditEntry.objects.filter(object_type="runbooks.credential", object_id=str(credential.pk))
    assert any(entry.changes.get("name", {}).get("after") == "Core router" for entry in entries)
    secret_entry = entries.filter(actor=member.username, changes__has_key="secrets").get()
    assert secret_entry.changes["secrets"] == {"before": "(secret)", "after": "secret changed"}
    stored = str(list(AuditEntry.objects.values_list("changes", "note", "object_repr")))
    assert "hunter2-top-secret" not in stored and "first-secret-value" not in stored
    assert credential.secret_ciphertext[:20] not in stored


# --- Through the services, as a request of someone ----------------------------------


def test_a_squad_change_and_a_membership_change(squad: Squad, member: User, admin_user: User) -> None:
    membership = Membership.objects.get(squad=squad, user=member)
    old_role = membership.role
    with as_user(admin_user, "203.0.113.5"):
        squad_update(squad=squad, name="Network and Edge")
        membership_update(membership=membership, role=Role.CHAPTER_LEAD)

    squad_entry = last(Squad, "changed")
    assert squad_entry.changes["name"]["after"] == "Network and Edge"
    membership_entry = last(Membership, "changed")
    assert membership_entry.changes["role"] == {"before": old_role, "after": "chapter_lead"}
    assert membership_entry.actor == admin_user.username and membership_entry.address == "203.0.113.5"


def test_a_membership_removed_is_recorded_with_what_it_was(
    squad: Squad, member: User, admin_user: User
) -> None:
    membership = Membership.objects.get(squad=squad, user=member)
    with as_user(admin_user):
        membership.delete()

    entry = last(Membership, "deleted")
    assert entry.changes["role"]["before"] == membership.role and entry.changes["user"]["after"] is None


def test_chapter_members_added_and_removed(admin_user: User, member: User) -> None:
    chapter = Chapter.objects.create(slug="automation", name="Automation")
    with as_user(admin_user):
        chapter.members.add(member)
        chapter.members.clear()

    added = AuditEntry.objects.get(object_type="squads.chapter", action="changed")
    assert added.changes == {"members": {"before": None, "after": {"added": [str(member)]}}}
    # Chapter memberships are rows of their own: the removal is theirs, once.
    removed = AuditEntry.objects.get(object_type="squads.chaptermembership", action="deleted")
    assert removed.changes["user"]["before"].startswith(str(member))
    assert removed.actor == admin_user.username


def test_a_new_runbook_version_and_the_current_one_moving(runbook: Runbook, member: User) -> None:
    with as_user(member):
        version = runbook_set_playbook(runbook=runbook, content=PLAYBOOK, user=member)

    created = last(RunbookVersion, "created")
    assert created.object_id == str(version.pk) and created.changes["number"]["after"] == version.number
    moved = last(Runbook, "changed")
    assert moved.changes["current_version"]["after"] == str(version)
    assert moved.actor == member.username


def test_an_operation_added(product: Product, runbook: Runbook, member: User) -> None:
    with as_user(member):
        operation = Operation.objects.create(product=product, slug="resize", name="Resize", runbook=runbook)
        operation.name = "Grow"
        operation.save()

    assert last(Operation, "created").changes["slug"] == {"before": None, "after": "resize"}
    assert last(Operation, "changed").changes == {"name": {"before": "Resize", "after": "Grow"}}


def test_a_choice_list_and_its_items(squad: Squad, member: User) -> None:
    with as_user(member):
        zones = ChoiceList.objects.create(slug="fw-zones", name="Firewall zones", squad=squad)
        item = ChoiceItem.objects.create(choice_list=zones, value="dmz", label="DMZ")
        item.label = "Demilitarised zone"
        item.save()
        item.delete()

    assert last(ChoiceList, "created").changes["slug"] == {"before": None, "after": "fw-zones"}
    assert last(ChoiceItem, "changed").changes == {"label": {"before": "DMZ", "after": "Demilitarised zone"}}
    assert last(ChoiceItem, "deleted").actor == member.username


def test_a_single_sign_on_identity_linked_and_its_account_deactivated_by_the_provider(
    requester: User,
) -> None:
    """Linking is on the trail; its token rotating at each login is not; the
    provider's deactivation of the account (an UPDATE, no save) is."""
    identity = OidcIdentity.objects.create(user=requester, issuer="https://idp.example.org", subject="s-1")
    identity.refresh_token = encrypt_json("rotated")
    identity.save()

    oidc_account_deactivate(identity=identity, why="invalid_grant (user disabled)")

    assert last(OidcIdentity, "created").changes["subject"] == {"before": None, "after": "s-1"}
    assert not AuditEntry.objects.filter(object_type="identity.oidcidentity", action="changed").exists()
    deactivated = last(User, "changed")
    assert deactivated.object_id == str(requester.pk)
    assert deactivated.changes == {"is_active": {"before": True, "after": False}}
    assert "invalid_grant (user disabled)" in deactivated.note


def test_a_label_that_names_no_model_stops_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from portal.audit import tracking

    monkeypatch.setattr(tracking, "AUDITED", (*tracking.AUDITED, "catalogue.Prodcut"))
    with pytest.raises(ImproperlyConfigured, match=r"'catalogue\.Prodcut'"):
        tracking.audited_models()


def test_a_business_unit_its_member_and_its_quota(
    database: Product, requester: User, admin_user: User
) -> None:
    first = AuditEntry.objects.count()
    with as_user(admin_user, "198.51.100.20"):
        unit = business_unit_create(slug="finance", name="Finance", cost_centre="CC-1")
        business_unit_update(unit=unit, slug="finance", name="Finance dept", cost_centre="CC-2")
        BusinessUnitMembership.objects.create(business_unit=unit, user=requester)
        quota_set(unit=unit, limit=QuotaLimit(product=database, max_instances=3))
        quota_set(unit=unit, limit=QuotaLimit(product=database, max_instances=5))

    changed = last(BusinessUnit, "changed")
    assert changed.changes == {
        "name": {"before": "Finance", "after": "Finance dept"},
        "cost_centre": {"before": "CC-1", "after": "CC-2"},
    }
    assert last(BusinessUnitMembership, "created").changes["user"]["after"].startswith(str(requester))
    assert last(Quota, "changed").changes["max_instances"] == {"before": 3, "after": 5}
    assert {entry.address for entry in AuditEntry.objects.order_by("id")[first:]} == {"198.51.100.20"}


def test_a_webhook_secret_rotated_never_shows_either_secret(requester: User) -> None:
    subscription = WebhookSubscription.objects.create(
        user=requester, url="https://hooks.example.com/x", secret_ciphertext=encrypt_json("whsec_old")
    )
    with as_user(requester):
        secret = webhook_rotate_secret(subscription=subscription, actor=requester)

    entry = last(WebhookSubscription, "changed")
    assert entry.changes == {"secret": {"before": "(secret)", "after": "secret changed"}}
    created = last(WebhookSubscription, "created")
    assert created.changes["secret_ciphertext"] == {"before": None, "after": "secret set"}
    assert secret not in str(list(AuditEntry.objects.values_list("changes", flat=True)))


# --- Through the API and the pages: the token's user is the actor ---------------------


def test_an_api_change_of_a_webhook_names_the_token_user(requester: User) -> None:
    subscription = WebhookSubscription.objects.create(
        user=requester, url="https://hooks.example.com/x", secret_ciphertext=encrypt_json("whsec_x")
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_create(user=requester, name='ci').key}")

    response = client.patch(
        f"/api/v1/webhooks/{subscription.pk}/",
        {"description": "CMDB"},
        format="json",
        REMOTE_ADDR="192.0.2.8",
    )

    assert response.status_code == 200, response.content
    entry = last(WebhookSubscription, "changed")
    assert entry.changes == {"description": {"before": "", "after": "CMDB"}}
    assert (entry.actor, entry.via, entry.address) == (requester.username, "api", "192.0.2.8")


def test_a_token_issued_and_revoked_on_the_tokens_page(client: Client, requester: User) -> None:
    client.force_login(requester)
    client.post("/integrations/tokens/", {"name": "cmdb"}, REMOTE_ADDR="192.0.2.77")
    token = ApiToken.objects.get(user=requester)
    created = last(ApiToken, "created")
    assert created.changes["name"]["after"] == "cmdb"
    assert created.changes["key_hash"] == {"before": None, "after": "secret set"}
    assert (created.actor, created.via, created.address) == (requester.username, "web", "192.0.2.77")

    from portal.integrations.tokens import token_revoke

    with as_user(requester):
        token_revoke(token=token, actor=requester)
    assert last(ApiToken, "changed").changes["revoked_at"]["before"] is None


# --- Import, commands and tasks act as themselves -------------------------------------


def test_a_catalogue_import_records_as_the_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setattr(sys, "argv", ["manage.py", "import_catalogue", str(VALID)])
    run_import(VALID)
    created = AuditEntry.objects.filter(object_type="catalogue.product", action="created")
    assert created.count() == Product.objects.count()
    assert {(entry.actor, entry.via, entry.address) for entry in created} == {
        ("import_catalogue", "command", None)
    }

    run_import(variant(tmp_path, ("sla_minutes: 30", "sla_minutes: 35")))
    entry = last(Product, "changed")
    assert entry.object_repr.startswith(Product.objects.get(slug="vlan").name)
    assert entry.changes["sla_minutes"] == {"before": 30, "after": 35}


def test_a_change_made_by_a_celery_task_names_the_task(squad: Squad) -> None:
    # What Celery's worker sends around each task it runs.
    task = Task()
    task.name = "portal.instances.expire"
    task_prerun.send(sender=task, task_id="abc", task=task, args=(), kwargs={})
    try:
        squad_update(squad=squad, mission="Everything that connects")
    finally:
        task_postrun.send(
            sender=task, task_id="abc", task=task, args=(), kwargs={}, retval=None, state="SUCCESS"
        )
    entry = last(Squad, "changed")
    assert (entry.actor, entry.via, entry.actor_id) == ("portal.instances.expire", "task", None)
    # Once it ended, the worker process acts as itself again.
    squad_update(squad=squad, mission="After the task")
    assert last(Squad, "changed").actor == "system"


def test_a_save_that_changes_nothing_records_nothing(product: Product) -> None:
    before = AuditEntry.objects.count()
    product.save()
    assert AuditEntry.objects.count() == before


def test_a_user_made_staff_is_recorded_without_the_password() -> None:
    user = UserFactory(username="olga")
    user.is_staff = True
    user.set_password("a-new-password-1")
    user.save()

    entry = last(User, "changed")
    assert entry.changes["is_staff"] == {"before": False, "after": True}
    assert entry.changes["password"] == {"before": "(secret)", "after": "secret changed"}
    assert "a-new-password" not in str(entry.changes)


def test_the_admin_history_page_of_an_object_shows_its_trail(
    member_client: Client, admin_user: User, product: Product
) -> None:
    member_client.post(admin_url(Product, "change", product.pk), product_data(product, name="Renamed VLAN"))

    page = member_client.get(admin_url(Product, "history", product.pk)).content.decode()
    assert 'id="audit-trail"' in page and "Renamed VLAN" in page and "<del>" in page
    # The addresses are for the trail's readers only.
    assert "127.0.0.1" not in page and "/audit/?object_type" not in page
    admin = Client()
    admin.force_login(admin_user)
    page = admin.get(admin_url(Product, "history", product.pk)).content.decode()
    assert "127.0.0.1" in page and f"/audit/?object_type=catalogue.product&amp;object_id={product.pk}" in page


def test_an_admin_form_with_inlines_records_the_unit_its_member_and_its_quota(
    client: Client, requester: User, database: Product
) -> None:
    from tests.portal.consumption.test_admin import add

    lead = MembershipFactory(
        user=UserFactory(username="marcus"), squad=SquadFactory(slug="platform"), role=Role.PLATFORM_LEAD
    ).user
    client.force_login(lead)
    response = add(client, database, requester, max_instances="4")

    assert response.status_code == 302
    unit = BusinessUnit.objects.get(slug="finance")
    for model, field, after in (
        (BusinessUnit, "cost_centre", "CC-100"),
        (BusinessUnitMembership, "business_unit", f"{unit} (#{unit.pk})"),
        (Quota, "max_instances", 4),
    ):
        entry = last(model, "created")
        assert entry.changes[field]["after"] == after
        assert (entry.actor, entry.via) == (lead.username, "admin")


def test_a_group_mapping_change(squad: Squad, admin_user: User) -> None:
    from portal.identity.models import GroupMapping

    with as_user(admin_user, "192.0.2.91"):
        mapping = GroupMapping.objects.create(group="net-engineers", squad=squad, role=Role.ENGINEER)
        mapping.role = Role.SME
        mapping.save()

    assert last(GroupMapping, "created").changes["group"] == {"before": None, "after": "net-engineers"}
    entry = last(GroupMapping, "changed")
    assert entry.changes == {"role": {"before": "engineer", "after": "sme"}}
    assert (entry.actor, entry.address) == (admin_user.username, "192.0.2.91")
