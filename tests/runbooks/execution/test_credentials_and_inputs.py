"""What reaches a playbook and what never leaves it: inputs stay data,
credentials and secret inputs are used but never stored, logged or put on
the command line."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess

import pytest

from runbooks.choices import CredentialKind, RunStatus
from runbooks.execution import run as execution_run
from runbooks.execution.masking import MASK, mask_inputs
from runbooks.execution.run import execute_run
from runbooks.models import Credential, RunEvent
from runbooks.services import credential_set_secrets
from tests.factories import CredentialFactory
from tests.runbooks import make_run, output_of

pytestmark = pytest.mark.django_db

# Quotes, a backslash and template markers: the password must stay literal
# and be masked in its JSON-escaped form too.
PASSWORD = 'Pa$$-{{ 7*7 }}-"q"-\\-w0rd'
TOKEN = "tok_9f8e7d6c5b4a39281706"
PIN = "4711-0815-secret"
WORKER_CREDENTIAL_KEY = "worker-own-credential-key-never-for-playbooks"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def commands(monkeypatch) -> list[list[str]]:
    """The command lines ansible-runner really spawns (the real Runner,
    observed)."""
    seen: list[list[str]] = []

    class ObservedRunner(execution_run.Runner):
        def run(self):  # type: ignore[no-untyped-def]
            seen.append(list(self.config.command))
            return super().run()

    monkeypatch.setattr(execution_run, "Runner", ObservedRunner)
    return seen


# Inputs and credentials that Jinja would render if Ansible took them for
# templates: each must reach the playbook as the very string that was sent.
RUNS_A_COMMAND = "{{ lookup('pipe', 'id') }}"
COMPUTES = "{{ 7 * 7 }}"


def test_template_in_an_input_or_a_credential_reaches_the_playbook_literally(dirs):
    _, output_dir = dirs
    login = CredentialFactory(slug="login", kind=CredentialKind.USERNAME_PASSWORD, username="ops")
    credential_set_secrets(credential=login, secrets={"password": f"pw-{RUNS_A_COMMAND}"})
    token = CredentialFactory(slug="api", kind=CredentialKind.TOKEN_ENV)
    credential_set_secrets(credential=token, secrets={"env": {"API_TOKEN": f"tok-{COMPUTES}"}})
    nested = {
        "list": [COMPUTES, {"deeper": [RUNS_A_COMMAND, 3, True, None]}],
        "settings": {RUNS_A_COMMAND: "{% raw %}x", COMPUTES: {"{{ key }}": ["{{ 5 * 5 }}"]}},
    }
    secret = f"s3cret-{RUNS_A_COMMAND}"
    run = make_run("literal", credentials=[login, token])

    run = execute_run(
        run_id=run.pk,
        inputs={"text": RUNS_A_COMMAND, "nested": nested, "secret": secret},
        secret_names={"secret"},
    )

    assert run.status == RunStatus.SUCCEEDED, run.failure_reason
    out = output_of(output_dir, run)
    received = json.loads((out / f"received-{run.pk}.json").read_text())
    assert received["text"] == received["again"] == received["copied"] == RUNS_A_COMMAND
    assert received["nested"] == nested
    assert received["first_item"] == COMPUTES
    assert received["keys"] == [RUNS_A_COMMAND, COMPUTES]
    assert (out / f"keys-{run.pk}.txt").read_text() == f"{RUNS_A_COMMAND}\n{COMPUTES}\n"
    assert received["secret_sha256"] == sha256(secret)
    assert (
        received["ansible_password_sha256"]
        == received["env_password_sha256"]
        == sha256(f"pw-{RUNS_A_COMMAND}")
    )
    assert received["token_sha256"] == sha256(f"tok-{COMPUTES}")


def test_secrets_are_used_by_the_playbook_but_never_stored_logged_or_on_the_command_line(
    dirs, commands, caplog, monkeypatch
):
    _, output_dir = dirs
    caplog.set_level(logging.DEBUG)
    # The worker's own secrets must not reach playbooks either.
    monkeypatch.setenv("SQUADRON_CREDENTIAL_KEY", WORKER_CREDENTIAL_KEY)
    login = CredentialFactory(slug="db-admin", kind=CredentialKind.USERNAME_PASSWORD, username="dba")
    credential_set_secrets(credential=login, secrets={"password": PASSWORD})
    token = CredentialFactory(slug="api", kind=CredentialKind.TOKEN_ENV)
    credential_set_secrets(credential=token, secrets={"env": {"API_TOKEN": TOKEN}})
    inputs = {"name": "db1", "pin": PIN}
    run = make_run(
        "secrets", credentials=[login, token], masked_inputs=mask_inputs(inputs=inputs, secret_names={"pin"})
    )

    run = execute_run(run_id=run.pk, inputs=inputs, secret_names={"pin"})

    # The playbook really received them...
    received = json.loads((output_of(output_dir, run) / f"received-{run.pk}.json").read_text())
    assert received["password_sha256"] == sha256(PASSWORD)
    assert received["username"] == "dba"
    assert received["ansible_user_sha256"] == sha256("dba")
    assert received["ansible_password_sha256"] == sha256(PASSWORD)
    assert received["token_sha256"] == sha256(TOKEN)
    assert received["pin_sha256"] == sha256(PIN)
    assert received["credential_key_seen"] in (False, "False")
    # ...through the environment and files, not the command line...
    assert "ansible-playbook" in received["cmdline"]
    assert len(commands) == 1
    for text in (received["cmdline"], " ".join(commands[0])):
        for secret in (PASSWORD, TOKEN, PIN, "dba"):
            assert secret not in text
    # ...and nothing the run stored or logged shows them.
    assert run.status == RunStatus.FAILED
    assert (
        run.failure_reason
        == f"task Fail with the secret in the message on host localhost: cannot log in with {MASK}"
    )
    assert run.masked_inputs == {"name": "db1", "pin": MASK}
    events = list(RunEvent.objects.filter(run=run))
    assert len(events) == run.event_count > 10
    stored = [run.failure_reason, json.dumps(run.masked_inputs), json.dumps(run.stats)]
    stored += [event.stdout + event.task + event.host + json.dumps(event.event_data) for event in events]
    stored += [record.getMessage() for record in caplog.records]
    forms = {PASSWORD, json.dumps(PASSWORD)[1:-1], TOKEN, PIN, WORKER_CREDENTIAL_KEY}
    leaks = [(form, text) for text in stored for form in forms if form in text]
    assert leaks == []
    printed = next(
        event for event in events if event.task == "Print the secrets" and event.event == "runner_on_ok"
    )
    assert f"password={MASK} token={MASK} pin={MASK}" in printed.stdout
    assert printed.event_data["res"]["msg"].startswith(f"password={MASK}")
    assert RunEvent.objects.filter(run=run, task=f"Task named after {MASK}").exists()


NEEDS_OPENSSH = pytest.mark.skipif(
    not shutil.which("ssh-keygen") or not shutil.which("ssh-agent"), reason="needs OpenSSH"
)
PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def ssh_key(tmp_path) -> tuple[str, str]:
    """A new passphrase-protected key: its private text and its public key."""
    key_path = tmp_path / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", PASSPHRASE, "-C", "squadron-test", "-f", str(key_path)],
        check=True,
    )
    return key_path.read_text(), key_path.with_suffix(".pub").read_text().split()[1]


def ssh_key_credential(key_data: str, passphrase: str) -> Credential:
    credential = CredentialFactory(slug="deploy-key", kind=CredentialKind.SSH_KEY, username="deploy")
    credential_set_secrets(
        credential=credential, secrets={"ssh_key_data": key_data, "passphrase": passphrase}
    )
    return credential


@NEEDS_OPENSSH
def test_ssh_key_reaches_the_playbook_through_the_agent_only(dirs, commands, ssh_key):
    _, output_dir = dirs
    key_data, public_key = ssh_key
    run = make_run("sshkey", credentials=[ssh_key_credential(key_data, PASSPHRASE)])

    run = execute_run(run_id=run.pk, inputs={}, secret_names=set())

    assert run.status == RunStatus.SUCCEEDED, run.failure_reason
    assert public_key in (output_of(output_dir, run) / f"agent-keys-{run.pk}").read_text()
    assert "ssh-agent" in commands[0]
    key_lines = key_data.splitlines()[1:-1]
    command_line = " ".join(commands[0])
    assert PASSPHRASE not in command_line
    assert not any(line in command_line for line in key_lines)
    stored = " ".join(event.stdout + json.dumps(event.event_data) for event in run.events.all())
    assert PASSPHRASE not in stored
    assert not any(line in stored for line in key_lines)


@NEEDS_OPENSSH
def test_wrong_ssh_key_passphrase_fails_the_run_at_once(dirs, ssh_key):
    runs_dir, _ = dirs
    key_data, _ = ssh_key
    run = make_run("sshkey", credentials=[ssh_key_credential(key_data, "not the passphrase")])

    run = execute_run(run_id=run.pk, inputs={}, secret_names=set())

    # Aborted at ssh-add's first retry prompt (the reason says so), not left
    # to the runbook's timeout.
    assert run.status == RunStatus.FAILED
    assert run.failure_reason == "the passphrase of the SSH key credential is wrong"
    assert not run.events.filter(task="List the agent's keys").exists()
    assert list(runs_dir.iterdir()) == []
