"""Who may curate runbooks, their versions and credentials in the admin:
ownership decides, through real requests, for a member of the owning squad, a
member of another squad, an outsider, a superuser and an anonymous visitor.
Versions are read-only for everybody. Every refused attempt asserts that the
database is unchanged, not only the status code."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from catalogue.models import Product
from runbooks.models import Credential, Runbook, RunbookVersion
from runbooks.services import credential_set_secrets
from squads.models import Squad
from tests.admin_forms import (
    CURATORS,
    admin_url,
    assert_refused,
    changelist_objects,
    field_errors,
    runbook_data,
    snapshot,
)
from tests.factories import PLAYBOOK, CredentialFactory


@pytest.fixture
def other_credential(other_squad: Squad) -> Credential:
    credential = CredentialFactory(squad=other_squad, slug="vcenter", name="vCenter", kind="token_env")
    credential_set_secrets(credential=credential, secrets={"env": {"VCENTER_TOKEN": "s3cr3t-compute"}})
    return credential


# --- Runbooks -----------------------------------------------------------------


def test_runbook_change_post_saves_only_for_curators(client: Client, role: str, runbook: Runbook) -> None:
    before = snapshot(runbook)
    versions = RunbookVersion.objects.count()

    response = client.post(
        admin_url(Runbook, "change", runbook.pk),
        runbook_data(runbook, name="Renamed", playbook=PLAYBOOK.replace("hello", "changed")),
    )

    if role in CURATORS:
        assert response.status_code == 302
        assert Runbook.objects.get(pk=runbook.pk).name == "Renamed"
        assert RunbookVersion.objects.count() == versions + 1
    else:
        assert_refused(response, role)
        assert snapshot(runbook) == before
        assert RunbookVersion.objects.count() == versions


def test_member_cannot_attach_forged_credential_of_another_squad_to_own_runbook(
    client: Client, member: Any, runbook: Runbook, other_credential: Credential
) -> None:
    client.force_login(member)
    before = snapshot(runbook)

    response = client.post(
        admin_url(Runbook, "change", runbook.pk), runbook_data(runbook, credentials=[other_credential.pk])
    )

    assert response.status_code == 200
    assert "Select a valid choice" in field_errors(response, "credentials")
    assert snapshot(runbook) == before


def test_member_of_two_squads_cannot_give_a_runbook_the_other_squads_credential(
    client: Client, two_squad_member: Any, runbook: Runbook, other_credential: Credential
) -> None:
    client.force_login(two_squad_member)
    before = snapshot(runbook)

    response = client.post(
        admin_url(Runbook, "change", runbook.pk), runbook_data(runbook, credentials=[other_credential.pk])
    )

    assert response.status_code == 200
    errors = field_errors(response, "credentials")
    assert "only its own squad's credentials" in errors
    assert snapshot(runbook) == before


def test_member_cannot_move_runbook_to_foreign_squad(
    client: Client, member: Any, runbook: Runbook, other_squad: Squad
) -> None:
    client.force_login(member)
    before = snapshot(runbook)

    response = client.post(
        admin_url(Runbook, "change", runbook.pk), runbook_data(runbook, squad=other_squad.pk)
    )

    assert response.status_code == 200
    assert "squad" in response.context["adminform"].form.errors
    assert snapshot(runbook) == before


def test_runbook_used_by_products_cannot_move_to_a_squad_that_does_not_own_them(
    client: Client, two_squad_member: Any, draft_product: Product, runbook: Runbook, other_squad: Squad
) -> None:
    client.force_login(two_squad_member)
    before = snapshot(runbook)

    response = client.post(
        admin_url(Runbook, "change", runbook.pk), runbook_data(runbook, squad=other_squad.pk)
    )

    assert response.status_code == 200
    assert "New VLAN" in field_errors(response, "squad")
    assert snapshot(runbook) == before


def test_member_cannot_add_runbook_to_foreign_squad(client: Client, member: Any, other_squad: Squad) -> None:
    client.force_login(member)
    count = Runbook.objects.count()

    response = client.post(
        admin_url(Runbook, "add"),
        {
            "name": "Sneaky",
            "slug": "sneaky",
            "squad": other_squad.pk,
            "timeout": 60,
            "playbook": PLAYBOOK,
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    assert "squad" in response.context["adminform"].form.errors
    assert Runbook.objects.count() == count
    assert not RunbookVersion.objects.filter(runbook__slug="sneaky").exists()


def test_runbook_delete_only_for_curators(client: Client, role: str, squad: Squad) -> None:
    # A runbook without playbook yet: deleting one with versions is blocked by
    # the PROTECT on ``Runbook.current_version`` (reported to the lead).
    runbook = Runbook.objects.create(slug="draft-runbook", name="Draft runbook", squad=squad)
    before = snapshot(runbook)

    response = client.post(admin_url(Runbook, "delete", runbook.pk), {"post": "yes"})

    if role in CURATORS:
        assert response.status_code == 302
        assert not Runbook.objects.filter(pk=runbook.pk).exists()
    else:
        assert_refused(response, role)
        assert snapshot(runbook) == before


# --- Runbook versions: read-only for everybody ----------------------------------


def test_version_page_opens_read_only_for_curators(client: Client, role: str, runbook: Runbook) -> None:
    version = runbook.current_version

    response = client.get(admin_url(RunbookVersion, "change", version.pk))

    if role in CURATORS:
        assert response.status_code == 200
        assert not response.context["has_change_permission"]
        assert "Say hello" in response.content.decode()
    else:
        assert_refused(response, role)


@pytest.mark.parametrize("user_fixture", ["member", "admin_user"])
def test_nobody_can_change_add_or_delete_a_version(
    client: Client, request: pytest.FixtureRequest, user_fixture: str, runbook: Runbook
) -> None:
    client.force_login(request.getfixturevalue(user_fixture))
    version = runbook.current_version
    before = snapshot(version)

    changed = client.post(
        admin_url(RunbookVersion, "change", version.pk),
        {"content": "- hosts: all\n", "checksum": "0" * 64, "number": 7},
    )
    deleted = client.post(admin_url(RunbookVersion, "delete", version.pk), {"post": "yes"})
    added = client.post(admin_url(RunbookVersion, "add"), {"runbook": runbook.pk, "number": 9})

    assert (changed.status_code, deleted.status_code, added.status_code) == (403, 403, 403)
    assert snapshot(version) == before
    assert RunbookVersion.objects.count() == 1


def test_version_changelist_lists_only_own_squads_versions(
    client: Client, member: Any, runbook: Runbook, other_runbook: Runbook
) -> None:
    client.force_login(member)

    response = client.get(admin_url(RunbookVersion, "changelist"))

    assert changelist_objects(response) == [runbook.current_version]


# --- Credentials ---------------------------------------------------------------


def test_credential_change_page_opens_only_for_curators(
    client: Client, role: str, credential: Credential
) -> None:
    response = client.get(admin_url(Credential, "change", credential.pk))

    if role in CURATORS:
        assert response.status_code == 200
    else:
        assert_refused(response, role)


def test_credential_secret_cannot_be_replaced_by_non_curators(
    client: Client, role: str, credential: Credential
) -> None:
    before = snapshot(credential)

    response = client.post(
        admin_url(Credential, "change", credential.pk),
        {
            "name": credential.name,
            "slug": credential.slug,
            "squad": credential.squad_id,
            "username": "",
            "env": "SWITCH_TOKEN=replaced",
        },
    )

    if role in CURATORS:
        assert response.status_code == 302
        assert Credential.objects.get(pk=credential.pk).secrets() == {"env": {"SWITCH_TOKEN": "replaced"}}
    else:
        assert_refused(response, role)
        assert snapshot(credential) == before


def test_credential_delete_only_for_curators(client: Client, role: str, credential: Credential) -> None:
    before = snapshot(credential)

    response = client.post(admin_url(Credential, "delete", credential.pk), {"post": "yes"})

    if role in CURATORS:
        assert response.status_code == 302
        assert not Credential.objects.filter(pk=credential.pk).exists()
    else:
        assert_refused(response, role)
        assert snapshot(credential) == before


def test_member_cannot_create_credential_for_foreign_squad(
    client: Client, member: Any, other_squad: Squad
) -> None:
    client.force_login(member)
    count = Credential.objects.count()

    response = client.post(
        admin_url(Credential, "add"),
        {"name": "Sneaky", "slug": "sneaky", "squad": other_squad.pk, "kind": "token_env", "env": "A=b"},
    )

    assert response.status_code == 200
    assert "squad" in response.context["adminform"].form.errors
    assert Credential.objects.count() == count


def test_credential_used_by_runbooks_cannot_move_to_another_squad(
    client: Client, two_squad_member: Any, runbook: Runbook, credential: Credential, other_squad: Squad
) -> None:
    runbook.credentials.add(credential)
    client.force_login(two_squad_member)
    before = snapshot(credential)

    response = client.post(
        admin_url(Credential, "change", credential.pk),
        {
            "name": credential.name,
            "slug": credential.slug,
            "squad": other_squad.pk,
            "username": "",
            "env": "",
        },
    )

    assert response.status_code == 200
    assert "Create VLAN" in field_errors(response, "squad")
    assert snapshot(credential) == before
