"""Near-duplicate runbooks are measured by what the playbooks do: each
module with the shape of its arguments, the hosts, the files they read and
write; not by the module names every playbook shares."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command

from portal.insights import tooling
from runbooks.analysis import action_shape, analyse_playbook
from tests.factories import RunbookFactory, SquadFactory

DEMO_PLAYBOOKS = Path(__file__).resolve().parents[2] / "catalogue" / "demo" / "playbooks"

# Two playbooks with the same modules in the same order, doing different jobs:
# what they pass to each module and which files they write differ.
WRITE_MOTD = """\
- hosts: web
  tasks:
    - ansible.builtin.assert: {that: banner is defined}
    - ansible.builtin.template: {src: motd.j2, dest: /etc/motd, owner: root}
    - ansible.builtin.copy: {content: "{{ banner }}", dest: /etc/issue}
    - ansible.builtin.debug: {msg: done}
"""
ROTATE_LOGS = """\
- hosts: db
  tasks:
    - ansible.builtin.assert: {that: [keep_days | int > 0], fail_msg: bad, quiet: true}
    - ansible.builtin.template:
        {src: logrotate.j2, dest: /etc/logrotate.d/app, mode: "0644", validate: "logrotate -d %s"}
    - ansible.builtin.copy: {remote_src: true, src: /var/log/app.log, dest: /var/log/app.log.1, backup: true}
    - ansible.builtin.debug: {var: keep_days}
"""


def test_the_shape_of_a_modules_arguments_is_their_names_not_their_values():
    assert (
        action_shape("ansible.builtin.copy", {"dest": "/a", "content": "x"})
        == "ansible.builtin.copy(content,dest)"
    )
    assert action_shape("ansible.builtin.command", "ls -l") == "ansible.builtin.command(…)"


def test_hosts_and_files_read_or_written_are_part_of_what_a_playbook_does():
    found = analyse_playbook(WRITE_MOTD)

    assert found.hosts == {"web": 1}
    assert set(found.files) == {"motd.j2", "motd", "issue"}
    assert found.action_sequence[1] == "ansible.builtin.template(dest,owner,src)"


def test_an_action_mapping_and_args_count_as_the_calls_arguments_and_lookups_name_files():
    found = analyse_playbook(
        """\
- hosts: [web, db]
  vars:
    banner: "{{ lookup('ansible.builtin.file', 'files/banner.txt') }}"
  tasks:
    - action: {module: ansible.builtin.copy, dest: /etc/motd}
      args: {mode: "0644"}
    - block:
        - ansible.builtin.debug:
            msg: "{{ lookup('template', 'templates/{{ site }}.j2') }} {{ lookup('template', 'hello.j2') }}"
"""
    )

    assert found.hosts == {"web": 1, "db": 1}
    assert found.action_sequence == ["ansible.builtin.copy(dest,mode)", "ansible.builtin.debug(msg)"]
    assert found.actions == {
        "ansible.builtin.copy(dest)": 1,
        "ansible.builtin.copy(mode)": 1,
        "ansible.builtin.debug(msg)": 1,
    }
    # A name made only of variables says nothing; the folder is taste.
    assert found.files == {"banner.txt": 1, "motd": 1, "hello.j2": 1}


@pytest.mark.django_db
def test_same_module_names_used_differently_are_not_near_duplicates():
    RunbookFactory(slug="motd", squad=SquadFactory(slug="network"), playbook=WRITE_MOTD)
    RunbookFactory(slug="logs", squad=SquadFactory(slug="data"), playbook=ROTATE_LOGS)

    pairs = tooling.duplicate_runbooks(threshold=0.0)

    assert len(pairs) == 1
    assert pairs[0].similarity.shared_modules == [
        "ansible.builtin.assert",
        "ansible.builtin.copy",
        "ansible.builtin.debug",
        "ansible.builtin.template",
    ]
    assert pairs[0].score < tooling.NEAR_DUPLICATE
    assert tooling.duplicate_runbooks() == []


@pytest.mark.django_db
def test_the_demos_vm_and_namespace_runbooks_are_not_paired_but_its_copied_dns_runbook_is(settings):
    settings.DEBUG = True  # load_demo refuses to run without it
    call_command("load_demo", stdout=io.StringIO())

    pairs = {
        frozenset((pair.first.runbook.slug, pair.second.runbook.slug)): pair.score
        for pair in tooling.duplicate_runbooks(threshold=0.0)
    }

    assert pairs[frozenset(("provision-vm", "create-namespace"))] < tooling.NEAR_DUPLICATE
    listed = {
        frozenset((pair.first.runbook.slug, pair.second.runbook.slug))
        for pair in tooling.duplicate_runbooks()
    }
    assert frozenset(("add-dns-record", "add-database-alias")) in listed
    assert frozenset(("provision-vm", "create-namespace")) not in listed
