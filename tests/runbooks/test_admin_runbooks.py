"""A squad member curates runbooks in the admin, through real requests: each
playbook edit is a new version and the old ones stay readable, invalid
playbooks and foreign queues are refused, history blocks deletion."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from runbooks.models import Run, Runbook, RunbookVersion
from runbooks.playbooks import playbook_checksum
from squads.models import Squad
from tests.admin_forms import admin_url, field_errors, runbook_data, submitted_as_rendered
from tests.factories import PLAYBOOK, CredentialFactory

NEW_PLAYBOOK = PLAYBOOK.replace("msg: hello", "msg: hello again")


def test_member_creates_a_runbook_with_its_first_version(
    member_client: Client, member: Any, squad: Squad
) -> None:
    response = member_client.post(
        admin_url(Runbook, "add"),
        {
            "name": "Create VLAN",
            "slug": "create-vlan",
            "squad": squad.pk,
            "timeout": 600,
            "network": "worker",
            "playbook": PLAYBOOK,
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302
    runbook = Runbook.objects.get(slug="create-vlan")
    version = runbook.current_version
    assert (version.number, version.content, version.created_by) == (1, PLAYBOOK, member)


def test_change_page_shows_the_current_playbook_in_a_monospace_textarea(
    member_client: Client, runbook: Runbook
) -> None:
    response = member_client.get(admin_url(Runbook, "change", runbook.pk))

    form = response.context["adminform"].form
    assert form["playbook"].value() == PLAYBOOK
    assert "monospace" in str(form["playbook"])


def test_editing_the_playbook_creates_version_2_and_keeps_version_1_readable(
    member_client: Client, member: Any, runbook: Runbook
) -> None:
    first = runbook.current_version

    response = member_client.post(
        admin_url(Runbook, "change", runbook.pk), runbook_data(runbook, playbook=NEW_PLAYBOOK)
    )

    assert response.status_code == 302
    runbook.refresh_from_db()
    second = runbook.current_version
    assert (second.number, second.checksum, second.created_by) == (2, playbook_checksum(NEW_PLAYBOOK), member)
    assert second.checksum != first.checksum
    old_page = member_client.get(admin_url(RunbookVersion, "change", first.pk))
    assert old_page.status_code == 200
    assert "msg: hello\n" in old_page.content.decode()
    assert RunbookVersion.objects.get(pk=first.pk).content == PLAYBOOK


@pytest.mark.parametrize("queue", ["compute", "networking", "other-network", "network_x"])
def test_a_runbook_cannot_send_its_runs_to_another_squads_workers(
    member_client: Client, runbook: Runbook, queue: str
) -> None:
    """A playbook runs with its worker's rights: a squad's own workers (and
    what they can reach) are for its own runbooks."""
    response = member_client.post(
        admin_url(Runbook, "change", runbook.pk), runbook_data(runbook, queue=queue)
    )

    assert response.status_code == 200
    assert "runs on the default queue or on its squad&#x27;s own" in response.content.decode()
    runbook.refresh_from_db()
    assert runbook.queue == ""


@pytest.mark.parametrize("queue", ["network", "network-dmz", "network.lab"])
def test_a_runbook_runs_on_its_squads_own_queues(member_client: Client, runbook: Runbook, queue: str) -> None:
    response = member_client.post(
        admin_url(Runbook, "change", runbook.pk), runbook_data(runbook, queue=queue)
    )

    assert response.status_code == 302
    runbook.refresh_from_db()
    assert runbook.queue == queue


def test_runbook_page_lists_versions_with_links_to_them(member_client: Client, runbook: Runbook) -> None:
    member_client.post(admin_url(Runbook, "change", runbook.pk), runbook_data(runbook, playbook=NEW_PLAYBOOK))

    html = member_client.get(admin_url(Runbook, "change", runbook.pk)).content.decode()

    for version in RunbookVersion.objects.filter(runbook=runbook):
        assert admin_url(RunbookVersion, "change", version.pk) in html
        assert version.checksum in html


def test_saving_an_unchanged_playbook_creates_no_version(member_client: Client, runbook: Runbook) -> None:
    # Browsers send text areas with CRLF line ends; the content is the same.
    crlf = runbook.playbook.replace("\n", "\r\n")

    response = member_client.post(
        admin_url(Runbook, "change", runbook.pk), runbook_data(runbook, playbook=crlf)
    )

    assert response.status_code == 302
    assert list(RunbookVersion.objects.filter(runbook=runbook).values_list("number", flat=True)) == [1]


def test_saving_the_runbook_page_as_rendered_changes_nothing(member_client: Client, runbook: Runbook) -> None:
    # A second version, so the read-only versions inline has rows to submit.
    member_client.post(admin_url(Runbook, "change", runbook.pk), runbook_data(runbook, playbook=NEW_PLAYBOOK))
    url = admin_url(Runbook, "change", runbook.pk)
    data = submitted_as_rendered(member_client, url)
    assert data["versions-TOTAL_FORMS"] == ["2"]

    response = member_client.post(url, data)

    assert response.status_code == 302
    assert RunbookVersion.objects.filter(runbook=runbook).count() == 2
    assert Runbook.objects.get(pk=runbook.pk).playbook == NEW_PLAYBOOK


@pytest.mark.parametrize(
    ("playbook", "message"),
    [
        ("- hosts: localhost\n  tasks: [\n", "The playbook is not valid YAML at line"),
        ("hosts: localhost\ntasks: []\n", "A playbook must be a YAML list of plays"),
        ("- name: no hosts\n  tasks: []\n", "Item 1 of the playbook is not a play"),
        ("   \n", "The playbook is empty"),
        # Shapes Ansible refuses only when it runs.
        ("- hosts:\n  tasks: []\n", "Play 1 of the playbook names no hosts"),
        (
            "- hosts: localhost\n  tasks: 5\n",
            "Play 1 of the playbook has 'tasks' that is not a list of tasks",
        ),
        ("- hosts: localhost\n  tasks:\n    - debug\n", "has item 1 of 'tasks' that is not a task"),
    ],
)
def test_invalid_playbook_is_refused_with_a_clear_message_and_no_version(
    member_client: Client, runbook: Runbook, playbook: str, message: str
) -> None:
    response = member_client.post(
        admin_url(Runbook, "change", runbook.pk), runbook_data(runbook, playbook=playbook)
    )

    assert response.status_code == 200
    assert message in field_errors(response, "playbook")
    assert RunbookVersion.objects.filter(runbook=runbook).count() == 1
    runbook.refresh_from_db()
    assert runbook.playbook == PLAYBOOK


def test_member_deletes_a_runbook_with_its_versions(member_client: Client, runbook: Runbook) -> None:
    response = member_client.post(admin_url(Runbook, "delete", runbook.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not Runbook.objects.filter(pk=runbook.pk).exists()
    assert not RunbookVersion.objects.filter(runbook_id=runbook.pk).exists()


def test_runbook_whose_version_an_order_ran_cannot_be_deleted(
    member_client: Client, runbook: Runbook, squad: Squad
) -> None:
    """History wins: the runs (and orders) that used a version keep it."""
    Run.objects.create(runbook_version=runbook.current_version)
    versions = RunbookVersion.objects.filter(runbook_id=runbook.pk).count()

    response = member_client.post(admin_url(Runbook, "delete", runbook.pk), {"post": "yes"})

    assert response.status_code == 200
    assert "Cannot delete" in response.content.decode() or "protected" in response.content.decode()
    assert Runbook.objects.filter(pk=runbook.pk).exists()
    assert RunbookVersion.objects.filter(runbook_id=runbook.pk).count() == versions


def test_member_attaches_own_squads_credential_to_runbook(
    member_client: Client, runbook: Runbook, squad: Squad
) -> None:
    credential = CredentialFactory(squad=squad)

    response = member_client.post(
        admin_url(Runbook, "change", runbook.pk), runbook_data(runbook, credentials=[credential.pk])
    )

    assert response.status_code == 302
    assert list(runbook.credentials.all()) == [credential]
