"""A squad member curates credentials in the admin, through real requests:
secrets are encrypted at rest, never shown or echoed back, kept when a field
is left blank, and refused with a clear message when malformed."""

from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.test import Client

from runbooks.crypto import decrypt_json
from runbooks.models import Credential
from runbooks.services import credential_set_secrets
from squads.models import Squad
from tests.admin_forms import admin_url, credential_data, field_errors, submitted_as_rendered
from tests.factories import CredentialFactory

SSH_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAAc2VjcmV0LWtleQ==\n"
    "-----END OPENSSH PRIVATE KEY-----"
)


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
