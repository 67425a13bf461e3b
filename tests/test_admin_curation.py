"""A squad member curates products, runbooks and credentials in the admin,
through real requests: versions, publishing, validation messages, secrets."""

from __future__ import annotations

import json
import time
from html.parser import HTMLParser
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.db.models import Model
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from catalogue.choices import Fulfilment, ProductStatus
from catalogue.models import Category, Product
from runbooks.crypto import decrypt_json
from runbooks.models import Credential, Run, Runbook, RunbookVersion
from runbooks.playbooks import playbook_checksum
from runbooks.services import credential_set_secrets
from squads.choices import Role
from squads.models import Squad
from tests.factories import (
    PLAYBOOK,
    CategoryFactory,
    CredentialFactory,
    MembershipFactory,
    ProductFactory,
    RunbookFactory,
    UserFactory,
)

NEW_PLAYBOOK = PLAYBOOK.replace("msg: hello", "msg: hello again")
SSH_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAAc2VjcmV0LWtleQ==\n"
    "-----END OPENSSH PRIVATE KEY-----"
)


# --- Fixtures -------------------------------------------------------------
@pytest.fixture
def category(db: None) -> Category:
    return CategoryFactory(slug="network", name="Network")


@pytest.fixture
def runbook(squad: Squad) -> Runbook:
    return RunbookFactory(squad=squad, slug="create-vlan", name="Create VLAN")


@pytest.fixture
def product(squad: Squad, runbook: Runbook, category: Category) -> Product:
    return ProductFactory(
        squad=squad, runbook=runbook, category=category, slug="vlan", name="New VLAN", status="draft"
    )


@pytest.fixture
def member_client(client: Client, member: Any) -> Client:
    client.force_login(member)
    return client


# --- Helpers --------------------------------------------------------------
def admin_url(model: type[Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def product_data(product: Product, **changes: Any) -> dict[str, Any]:
    """The admin change form of ``product`` as a browser would post it."""
    data: dict[str, Any] = {
        "name": product.name,
        "slug": product.slug,
        "squad": product.squad_id,
        "category": product.category_id,
        "summary": product.summary,
        "description": product.description,
        "tags": product.tags,
        "fulfilment": product.fulfilment,
        "runbook": product.runbook_id or "",
        "approval_policy": product.approval_policy,
        "approval_remind_after_hours": 24,
        "approval_escalate_after_hours": 72,
        "approval_steps-TOTAL_FORMS": "0",
        "approval_steps-INITIAL_FORMS": "0",
        "sla_minutes": product.sla_minutes,
        "unit_cost": product.unit_cost if product.unit_cost is not None else "",
        "form_schema": json.dumps(product.form_schema, indent=2),
        "depends_on": [dependency.pk for dependency in product.depends_on.all()],
        "_save": "Save",
    }
    data.update(changes)
    return data


def runbook_data(runbook: Runbook, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": runbook.name,
        "slug": runbook.slug,
        "squad": runbook.squad_id,
        "description": runbook.description,
        "timeout": runbook.timeout,
        "queue": runbook.queue,
        "network": runbook.network,
        "credentials": [credential.pk for credential in runbook.credentials.all()],
        "playbook": runbook.playbook,
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
        "_save": "Save",
    }
    data.update(changes)
    return data


def credential_data(credential: Credential, **changes: Any) -> dict[str, Any]:
    """The change form of a stored credential, secret fields left blank."""
    data: dict[str, Any] = {
        "name": credential.name,
        "slug": credential.slug,
        "squad": credential.squad_id,
        "username": credential.username,
    }
    data.update(changes)
    return data


class _FormFields(HTMLParser):
    """Collects what a browser would submit from the admin's change form."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._in_form = False
        self._textarea: str | None = None
        self._select: str | None = None

    def _add(self, name: str, value: str) -> None:
        self.data.setdefault(name, []).append(value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {key: value or "" for key, value in attrs}
        if tag == "form" and attributes.get("id", "").endswith("_form"):
            self._in_form = True
        if not self._in_form or ("name" not in attributes and tag != "option"):
            return
        if tag == "input" and attributes.get("type") not in ("submit", "button", "file"):
            if attributes.get("type") not in ("checkbox", "radio") or "checked" in attributes:
                self._add(attributes["name"], attributes.get("value", ""))
        elif tag == "textarea":
            self._textarea = attributes["name"]
            self._add(self._textarea, "")
        elif tag == "select":
            self._select = attributes["name"]
        elif tag == "option" and self._select and "selected" in attributes:
            self._add(self._select, attributes.get("value", ""))

    def handle_data(self, data: str) -> None:
        if self._textarea:
            # Like a browser: the newline right after <textarea> is not content.
            current = self.data[self._textarea][-1] + data
            self.data[self._textarea][-1] = current.removeprefix("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None
        elif tag == "form":
            self._in_form = False


def submitted_as_rendered(client: Client, url: str) -> dict[str, list[str]]:
    """The change form at ``url`` as a browser would submit it untouched."""
    parser = _FormFields()
    parser.feed(client.get(url).content.decode())
    return {**parser.data, "_save": ["Save"]}


def field_errors(response: Any, field: str) -> str:
    """The error messages the admin form shows on ``field``, as plain text."""
    return " ".join(response.context["adminform"].form.errors.get(field, []))


def shown_messages(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def run_action(client: Client, action: str, *products: Product) -> Any:
    return client.post(
        admin_url(Product, "changelist"),
        {"action": action, "_selected_action": [product.pk for product in products], "index": "0"},
    )


# --- Products -------------------------------------------------------------------
def test_member_creates_a_draft_product_for_own_squad(
    member_client: Client, squad: Squad, runbook: Runbook, category: Category
) -> None:
    response = member_client.post(
        admin_url(Product, "add"),
        {
            "name": "New VLAN",
            "slug": "vlan",
            "squad": squad.pk,
            "category": category.pk,
            "summary": "A VLAN on the campus fabric",
            "fulfilment": Fulfilment.AUTOMATED,
            "runbook": runbook.pk,
            "approval_policy": "none",
            "approval_remind_after_hours": 24,
            "approval_escalate_after_hours": 72,
            "approval_steps-TOTAL_FORMS": "0",
            "approval_steps-INITIAL_FORMS": "0",
            "sla_minutes": 30,
            "form_schema": json.dumps(
                {"type": "object", "properties": {"vlan_id": {"type": "integer", "minimum": 2}}}
            ),
        },
    )

    assert response.status_code == 302
    product = Product.objects.get(slug="vlan")
    assert (product.squad, product.runbook, product.status, product.version) == (
        squad,
        runbook,
        ProductStatus.DRAFT,
        1,
    )
    assert product.form_schema["properties"]["vlan_id"]["minimum"] == 2


def test_editing_a_product_bumps_its_version(member_client: Client, product: Product) -> None:
    response = member_client.post(
        admin_url(Product, "change", product.pk), product_data(product, summary="Now with QoS")
    )

    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.summary, product.version) == ("Now with QoS", 2)


def test_saving_an_unchanged_product_does_not_bump_its_version(
    member_client: Client, product: Product
) -> None:
    response = member_client.post(admin_url(Product, "change", product.pk), product_data(product))

    assert response.status_code == 302
    product.refresh_from_db()
    assert product.version == 1


def test_changing_only_dependencies_bumps_the_version(
    member_client: Client, product: Product, category: Category, other_squad: Squad
) -> None:
    ip_block = ProductFactory(squad=other_squad, category=category, slug="ip-block")

    member_client.post(
        admin_url(Product, "change", product.pk), product_data(product, depends_on=[ip_block.pk])
    )

    product.refresh_from_db()
    assert list(product.depends_on.all()) == [ip_block]
    assert product.version == 2


def test_change_form_shows_the_schema_as_indented_json_in_a_monospace_textarea(
    member_client: Client, product: Product
) -> None:
    response = member_client.get(admin_url(Product, "change", product.pk))

    html = response.content.decode()
    assert 'name="form_schema"' in html
    assert "monospace" in html
    assert "&quot;required&quot;: [\n" in html  # indented, one key per line


def test_a_new_product_starts_from_an_empty_form_and_an_empty_box_means_no_inputs(
    member_client: Client, product: Product
) -> None:
    add_page = member_client.get(admin_url(Product, "add")).content.decode()
    assert "null" not in add_page.split('name="form_schema"', 1)[1].split("</textarea>", 1)[0]
    assert "&quot;type&quot;: &quot;object&quot;" in add_page

    for box in ("", "{}"):
        response = member_client.post(
            admin_url(Product, "change", product.pk), product_data(product, form_schema=box)
        )
        assert response.status_code == 302, field_errors(response, "form_schema")
        product.refresh_from_db()
        assert product.form_schema == {"type": "object", "properties": {}}


def test_invalid_form_schema_is_refused_with_messages_on_the_schema_field(
    member_client: Client, product: Product
) -> None:
    bad_schema = {"type": "object", "properties": {"vlan_id": {"type": "integer", "pattern": "x"}}}

    response = member_client.post(
        admin_url(Product, "change", product.pk), product_data(product, form_schema=json.dumps(bad_schema))
    )

    assert response.status_code == 200
    assert "keyword 'pattern' is not supported for integer" in field_errors(response, "form_schema")
    product.refresh_from_db()
    assert product.version == 1
    assert "pattern" not in json.dumps(product.form_schema)


def test_schema_that_is_not_json_is_refused_on_the_schema_field(
    member_client: Client, product: Product
) -> None:
    response = member_client.post(
        admin_url(Product, "change", product.pk), product_data(product, form_schema="{type: object")
    )

    assert response.status_code == 200
    assert "Enter a valid JSON" in field_errors(response, "form_schema")
    # The unparsable text is given back to be fixed, not lost.
    assert "{type: object" in response.content.decode()


def test_publish_action_publishes_and_bumps_version(member_client: Client, product: Product) -> None:
    response = run_action(member_client, "publish_selected", product)

    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.status, product.version) == (ProductStatus.PUBLISHED, 2)
    assert shown_messages(response) == ["1 product(s) published: New VLAN."]


def test_retire_action_retires_a_published_product(member_client: Client, product: Product) -> None:
    run_action(member_client, "publish_selected", product)

    response = run_action(member_client, "retire_selected", product)

    product.refresh_from_db()
    assert product.status == ProductStatus.RETIRED
    assert "1 product(s) retired: New VLAN." in shown_messages(response)


def test_publishing_an_automated_product_without_runbook_is_refused_and_unchanged(
    member_client: Client, squad: Squad, category: Category, product: Product
) -> None:
    orphan = ProductFactory(
        squad=squad, category=category, slug="orphan", name="Orphan", status="draft", runbook=None
    )

    response = run_action(member_client, "publish_selected", orphan, product)

    orphan.refresh_from_db()
    assert (orphan.status, orphan.version) == (ProductStatus.DRAFT, 1)
    messages = shown_messages(response)
    assert "Orphan was not published: A published automated product needs a runbook." in messages
    # The others in the selection are still published.
    assert "1 product(s) published: New VLAN." in messages
    assert Product.objects.get(pk=product.pk).status == ProductStatus.PUBLISHED


def test_status_cannot_be_set_through_the_change_form(member_client: Client, product: Product) -> None:
    # Publishing goes through the action (and its rules), not a posted field.
    member_client.post(admin_url(Product, "change", product.pk), product_data(product, status="published"))

    product.refresh_from_db()
    assert product.status == ProductStatus.DRAFT


def test_dependency_cycle_is_refused_with_the_cycle_named(
    member_client: Client, product: Product, squad: Squad, category: Category
) -> None:
    ip_block = ProductFactory(squad=squad, category=category, slug="ip-block", name="IP block")
    ip_block.depends_on.add(product)  # ip-block -> vlan

    response = member_client.post(
        admin_url(Product, "change", product.pk), product_data(product, depends_on=[ip_block.pk])
    )

    assert response.status_code == 200
    errors = field_errors(response, "depends_on")
    assert "would make a cycle" in errors
    assert "ip-block → vlan → ip-block" in errors or "vlan → ip-block → vlan" in errors
    product.refresh_from_db()
    assert (list(product.depends_on.all()), product.version) == ([], 1)


def test_a_product_is_not_offered_as_its_own_dependency(member_client: Client, product: Product) -> None:
    response = member_client.post(
        admin_url(Product, "change", product.pk), product_data(product, depends_on=[product.pk])
    )

    assert response.status_code == 200
    assert "Select a valid choice" in field_errors(response, "depends_on")
    assert not product.depends_on.exists()


# --- Runbooks and their playbook versions ---------------------------------------
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


def test_saving_the_product_page_as_rendered_does_not_bump_the_version(
    member_client: Client, product: Product
) -> None:
    url = admin_url(Product, "change", product.pk)

    response = member_client.post(url, submitted_as_rendered(member_client, url))

    assert response.status_code == 302
    product.refresh_from_db()
    assert product.version == 1


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


# --- Credentials ----------------------------------------------------------------
def test_token_credential_is_encrypted_at_rest(member_client: Client, squad: Squad) -> None:
    response = member_client.post(
        admin_url(Credential, "add"),
        {
            "name": "Switch API",
            "slug": "switch-api",
            "squad": squad.pk,
            "kind": "token_env",
            "env": "SWITCH_TOKEN=plain-token-123\r\n\r\n# a comment\r\nSWITCH_URL=https://sw.example.com/?a=b",
        },
    )

    assert response.status_code == 302
    credential = Credential.objects.get(slug="switch-api")
    assert "plain-token-123" not in credential.secret_ciphertext
    assert decrypt_json(credential.secret_ciphertext) == {
        "env": {"SWITCH_TOKEN": "plain-token-123", "SWITCH_URL": "https://sw.example.com/?a=b"}
    }


def test_password_credential_page_never_shows_the_secret(member_client: Client, squad: Squad) -> None:
    member_client.post(
        admin_url(Credential, "add"),
        {
            "name": "Router login",
            "slug": "router-login",
            "squad": squad.pk,
            "kind": "username_password",
            "username": "automation",
            "password": "hunter2-plain",
        },
    )
    credential = Credential.objects.get(slug="router-login")
    assert credential.secrets() == {"password": "hunter2-plain"}
    assert "hunter2-plain" not in credential.secret_ciphertext

    change_page = member_client.get(admin_url(Credential, "change", credential.pk)).content.decode()
    list_page = member_client.get(admin_url(Credential, "changelist")).content.decode()

    for html in (change_page, list_page):
        assert "hunter2-plain" not in html
        assert credential.secret_ciphertext not in html
        assert "secret_ciphertext" not in html
    assert "Secret stored:" in change_page
    assert '<div class="readonly">yes</div>' in change_page


def add_jump_host(client: Client, squad: Squad, **secrets: str) -> HttpResponse:
    """Post the admin's add form of an SSH key credential named jump-host."""
    data = {
        "name": "Jump host",
        "slug": "jump-host",
        "squad": squad.pk,
        "kind": "ssh_key",
        "username": "ansible",
    }
    return client.post(admin_url(Credential, "add"), {**data, **secrets})


def test_ssh_key_credential_stores_key_and_passphrase(member_client: Client, squad: Squad) -> None:
    response = add_jump_host(
        member_client, squad, ssh_key_data=SSH_KEY.replace("\n", "\r\n"), passphrase="open sesame"
    )

    assert response.status_code == 302
    credential = Credential.objects.get(slug="jump-host")
    assert credential.secrets() == {"ssh_key_data": SSH_KEY + "\n", "passphrase": "open sesame"}
    html = member_client.get(admin_url(Credential, "change", credential.pk)).content.decode()
    assert "b3BlbnNzaC1rZXktdjEAAAAAc2VjcmV0LWtleQ" not in html
    assert "open sesame" not in html


def test_an_ssh_key_that_is_not_a_private_key_is_refused_without_echoing_it(
    member_client: Client, squad: Squad
) -> None:
    response = add_jump_host(member_client, squad, ssh_key_data="not a key at all")

    assert response.status_code == 200
    assert "This is not a private key" in field_errors(response, "ssh_key_data")
    assert "not a key at all" not in response.content.decode()
    assert not Credential.objects.filter(slug="jump-host").exists()


def test_blank_secret_on_edit_keeps_the_stored_secret(member_client: Client, squad: Squad) -> None:
    credential = CredentialFactory(squad=squad, kind="username_password", username="automation")
    credential_set_secrets(credential=credential, secrets={"password": "keep-me"})
    stored = Credential.objects.get(pk=credential.pk).secret_ciphertext

    response = member_client.post(
        admin_url(Credential, "change", credential.pk),
        credential_data(credential, name="Renamed", password=""),
    )

    assert response.status_code == 302
    credential.refresh_from_db()
    assert (credential.name, credential.secret_ciphertext) == ("Renamed", stored)
    assert credential.secrets() == {"password": "keep-me"}


def test_saving_the_credential_page_as_rendered_keeps_the_secret(member_client: Client, squad: Squad) -> None:
    credential = CredentialFactory(squad=squad, kind="ssh_key", username="ansible")
    credential_set_secrets(credential=credential, secrets={"ssh_key_data": SSH_KEY, "passphrase": "pp"})
    stored = Credential.objects.get(pk=credential.pk).secret_ciphertext
    url = admin_url(Credential, "change", credential.pk)
    data = submitted_as_rendered(member_client, url)
    assert data["ssh_key_data"] == [""]
    assert data["passphrase"] == [""]

    response = member_client.post(url, data)

    assert response.status_code == 302
    assert Credential.objects.get(pk=credential.pk).secret_ciphertext == stored


def test_new_secret_on_edit_replaces_the_stored_secret(member_client: Client, squad: Squad) -> None:
    credential = CredentialFactory(squad=squad, kind="username_password")
    credential_set_secrets(credential=credential, secrets={"password": "old"})

    member_client.post(
        admin_url(Credential, "change", credential.pk), credential_data(credential, password="new")
    )

    assert Credential.objects.get(pk=credential.pk).secrets() == {"password": "new"}


def test_kind_cannot_change_once_saved(member_client: Client, squad: Squad) -> None:
    credential = CredentialFactory(squad=squad, kind="username_password")
    credential_set_secrets(credential=credential, secrets={"password": "old"})

    member_client.post(
        admin_url(Credential, "change", credential.pk),
        credential_data(credential, kind="token_env", env="A=b"),
    )

    credential.refresh_from_db()
    assert credential.kind == "username_password"
    assert credential.secrets() == {"password": "old"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ("TOKEN", "Line 1 is not NAME=value."),
        ("GOOD=1\n1BAD=secret-value", "Line 2: '1BAD' is not an environment variable name"),
        ("MY-VAR=secret-value", "'MY-VAR' is not an environment variable name"),
        ("A=1\nA=secret-value", "Line 2: A is set twice."),
    ],
)
def test_invalid_env_lines_are_refused_without_echoing_values(
    member_client: Client, squad: Squad, env: str, message: str
) -> None:
    response = member_client.post(
        admin_url(Credential, "add"),
        {"name": "Tokens", "slug": "tokens", "squad": squad.pk, "kind": "token_env", "env": env},
    )

    assert response.status_code == 200
    assert message in field_errors(response, "env")
    assert "secret-value" not in response.content.decode()
    assert not Credential.objects.filter(slug="tokens").exists()


def test_secret_of_another_kind_is_refused(member_client: Client, squad: Squad) -> None:
    response = member_client.post(
        admin_url(Credential, "add"),
        {"name": "Tokens", "slug": "tokens", "squad": squad.pk, "kind": "token_env", "password": "pw-x"},
    )

    assert response.status_code == 200
    assert "leave it blank" in field_errors(response, "password")
    assert "needs this secret" in field_errors(response, "env")
    assert "pw-x" not in response.content.decode()
    assert not Credential.objects.filter(slug="tokens").exists()


def test_form_error_does_not_render_submitted_secrets_back(member_client: Client, squad: Squad) -> None:
    response = member_client.post(
        admin_url(Credential, "add"),
        {
            "name": "Broken",
            "slug": "not a slug",
            "squad": squad.pk,
            "kind": "ssh_key",
            "ssh_key_data": "PRIVATE-KEY-MATERIAL",
            "passphrase": "pass-material",
        },
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "PRIVATE-KEY-MATERIAL" not in html
    assert "pass-material" not in html


# --- Approval steps --------------------------------------------------------------
def test_member_sets_a_multi_step_approval_naming_another_squad(
    member_client: Client, product: Product, other_squad: Squad
) -> None:
    for username in ("otto", "olga"):  # two people to give the two approvals it needs
        MembershipFactory(user=UserFactory(username=username), squad=other_squad, role=Role.ENGINEER)
    data = product_data(
        product,
        approval_policy="steps",
        approval_remind_after_hours=4,
        approval_escalate_after_hours=12,
        **{
            "approval_steps-TOTAL_FORMS": "2",
            "approval_steps-0-position": "0",
            "approval_steps-0-name": "Squad review",
            "approval_steps-0-roles": ["product_owner"],
            "approval_steps-0-required_approvals": "1",
            "approval_steps-1-position": "1",
            "approval_steps-1-name": "Compute sign-off",
            "approval_steps-1-squad": str(other_squad.pk),
            "approval_steps-1-roles": [],
            "approval_steps-1-required_approvals": "2",
        },
    )

    response = member_client.post(admin_url(Product, "change", product.pk), data)

    assert response.status_code == 302, response.context["errors"] if response.context else response
    product.refresh_from_db()
    assert product.approval_policy == "steps"
    assert list(product.approval_steps.values_list("name", "squad", "required_approvals")) == [
        ("Squad review", None, 1),
        ("Compute sign-off", other_squad.pk, 2),
    ]


@pytest.mark.parametrize(
    "steps",
    [
        {},  # a multi-step policy without any step
        {  # a role that does not exist
            "approval_steps-TOTAL_FORMS": "1",
            "approval_steps-0-name": "Review",
            "approval_steps-0-roles": ["janitor"],
            "approval_steps-0-required_approvals": "1",
            "approval_steps-0-position": "0",
        },
        {  # more approvals than there are product owners to give them: orders would wait forever
            "approval_steps-TOTAL_FORMS": "1",
            "approval_steps-0-name": "Review",
            "approval_steps-0-roles": ["product_owner"],
            "approval_steps-0-required_approvals": "5",
            "approval_steps-0-position": "0",
        },
        {  # two steps in one position: which opens first?
            "approval_steps-TOTAL_FORMS": "2",
            "approval_steps-0-name": "Review",
            "approval_steps-0-roles": [],
            "approval_steps-0-required_approvals": "1",
            "approval_steps-0-position": "0",
            "approval_steps-1-name": "Sign-off",
            "approval_steps-1-roles": [],
            "approval_steps-1-required_approvals": "1",
            "approval_steps-1-position": "0",
        },
    ],
)
def test_a_broken_approval_policy_is_refused_and_nothing_changes(
    member_client: Client, product: Product, steps: dict[str, str]
) -> None:
    before = (product.approval_policy, product.version, product.approval_steps.count())

    response = member_client.post(
        admin_url(Product, "change", product.pk), product_data(product, approval_policy="steps", **steps)
    )

    assert response.status_code == 200
    product.refresh_from_db()
    assert (product.approval_policy, product.version, product.approval_steps.count()) == before


# --- Odd form schemas: a clear message, never a 500 -----------------------
def _form(properties: object, **root: object) -> dict[str, object]:
    return {"type": "object", "properties": properties, **root}


def _field(**spec: object) -> dict[str, object]:
    return _form({"name": spec})


#: Schemas a curator may type by mistake, each with (part of) the message the
#: schema field must show. Valid JSON Schema the order form cannot render
#: (a list of types) is refused as clearly as invalid JSON Schema.
ODD_SCHEMAS = [
    (_field(type=["string", "null"]), "a list of types"),
    (_field(type=["integer"]), "a list of types"),
    (_field(type={"const": "string"}), "has unsupported type"),
    (_field(type=None), "has unsupported type"),
    (_field(type=1.5), "has unsupported type"),
    (_field(type="string", format=["email"]), "format ['email'] is not supported"),
    (_field(type="string", format={"x": 1}), "is not supported"),
    (_field(type="string", **{"x-widget": ["textarea"]}), "x-widget must be 'textarea'"),
    (_field(type="string", **{"x-secret": "yes"}), "x-secret must be true or false"),
    (_field(type="string", pattern=["^a"]), "pattern must be text"),
    (_field(type="string", pattern=7), "pattern must be text"),
    (_field(type="string", enum={"a": 1}), "enum must be a non-empty list"),
    (_field(type="string", minLength="3"), "invalid JSON Schema"),
    (_field(type="integer", minimum="a", default=3), "invalid JSON Schema"),
    (_field(type="integer", minimum=[1], maximum={"a": 1}), "invalid JSON Schema"),
    (_field(type="integer", multipleOf=0), "invalid JSON Schema"),
    (_field(type="number", exclusiveMinimum="0", default=1), "invalid JSON Schema"),
    (_field(type="string", maxLength=-1, default="a"), "invalid JSON Schema"),
    (_field(type="array", items=["a"]), "an array must be a multiple choice"),
    (_field(type="array", items={"type": "string", "enum": "ab"}), "an array must be a multiple choice"),
    (_field(type="array", items={"type": ["string"], "enum": ["a"]}), "an array must be a multiple choice"),
    (_field(type="boolean", default="yes"), "the default does not fit"),
    (_field(type="string", title=["x"]), "invalid JSON Schema"),
    (_form(["name"]), "'properties' must be a mapping"),
    (_form("name"), "'properties' must be a mapping"),
    (_form({"name": "string"}), "must be a mapping"),
    (_form({"name": ["string"]}), "must be a mapping"),
    (_form({}, required="name"), "'required' must be a list"),
    (_form({}, required={"name": True}), "'required' must be a list"),
    (_form({}, required=[["name"]]), "'required' must be a list"),
    (_form({}, additionalProperties="no"), "invalid JSON Schema"),
    ({"type": ["object"], "properties": {}}, "the form's type must be 'object'"),
    ({"type": {"object": 1}}, "the form's type must be 'object'"),
    ({"type": "object", "properties": {}, "patternProperties": {"(a+)+": {}}}, "unsupported keyword"),
    (["type", "object"], "must be a JSON Schema object"),
    ("object", "must be a JSON Schema object"),
    (42, "must be a JSON Schema object"),
]


@pytest.mark.parametrize(("schema", "message"), ODD_SCHEMAS, ids=[json.dumps(s)[:60] for s, _ in ODD_SCHEMAS])
def test_an_odd_form_schema_is_refused_with_a_message_never_a_server_error(
    member_client: Client, product: Product, schema: object, message: str
) -> None:
    before = product.form_schema

    response = member_client.post(
        admin_url(Product, "change", product.pk), product_data(product, form_schema=json.dumps(schema))
    )

    assert response.status_code == 200
    assert message in field_errors(response, "form_schema")
    product.refresh_from_db()
    assert (product.version, product.form_schema) == (1, before)


def _one_field(spec: str) -> str:
    """A form schema as typed in the box, with ``spec`` as its one field."""
    return '{"type": "object", "properties": {"n": ' + spec + "}}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_one_field('{"type": "number", "maximum": NaN}'), "not a JSON number"),
        (_one_field('{"type": "number", "maximum": Infinity}'), "not a JSON number"),
        (_one_field('{"type": "number", "maximum": 1e400}'), "not a JSON number"),
        (_one_field('{"type": "string", "default": "\\ud800"}'), "not valid text"),
        ('{"type": "object", "title": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
        (_one_field('{"type": "string", "examples": ' + "[" * 150 + "]" * 150 + "}"), "nested too deeply"),
        (_one_field('{"type": "integer", "maximum": 1' + "0" * 5000 + "}"), "This JSON cannot be read"),
    ],
    ids=["nan", "infinity", "overflow", "lone-surrogate", "deep-100000", "deep-150", "huge-integer"],
)
def test_json_that_is_no_json_value_is_refused_on_the_schema_field(
    member_client: Client, product: Product, text: str, message: str
) -> None:
    response = member_client.post(
        admin_url(Product, "change", product.pk), product_data(product, form_schema=text)
    )

    assert response.status_code == 200
    assert message in field_errors(response, "form_schema")
    product.refresh_from_db()
    assert product.version == 1


def test_a_pattern_re2_cannot_run_is_refused_naming_the_field(
    member_client: Client, product: Product
) -> None:
    schema = _form({"vlan_name": {"type": "string", "pattern": "^(a)\\1$"}})

    response = member_client.post(
        admin_url(Product, "change", product.pk), product_data(product, form_schema=json.dumps(schema))
    )

    assert response.status_code == 200
    errors = field_errors(response, "form_schema")
    assert "properties.vlan_name.pattern: property 'vlan_name': pattern '^(a)\\\\1$' cannot be used" in errors
    assert "no backreferences" in errors
    product.refresh_from_db()
    assert product.version == 1 and "pattern" not in json.dumps(product.form_schema)


def test_a_backtracking_default_is_checked_in_milliseconds(member_client: Client, product: Product) -> None:
    schema = _field(type="string", pattern="^(a+)+$", default="a" * 28 + "!")

    started = time.perf_counter()
    response = member_client.post(
        admin_url(Product, "change", product.pk), product_data(product, form_schema=json.dumps(schema))
    )

    assert time.perf_counter() - started < 2
    assert "the default does not fit" in field_errors(response, "form_schema")
    product.refresh_from_db()
    assert product.version == 1
