"""The run's private dir and environment: ansible-playbook is found
whatever the worker's PATH, and nothing is left behind after many runs."""

from __future__ import annotations

import pytest

from runbooks.choices import RunStatus
from tests.runbooks import make_run
from tests.runbooks.execution import execute


@pytest.mark.django_db
def test_ansible_playbook_is_found_whatever_the_worker_path(dirs, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")

    run = execute(make_run("ok"))

    assert run.status == RunStatus.SUCCEEDED, run.failure_reason


@pytest.mark.django_db
def test_nothing_is_left_behind_after_many_runs(dirs, tmp_path, monkeypatch):
    runs_dir, _ = dirs
    # A home of its own, to see whether Ansible leaves anything in ~/.ansible.
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    statuses = []

    for number in range(20):
        run = execute(make_run("ok" if number % 2 else "fail"))
        statuses.append(run.status)

    assert statuses == [RunStatus.FAILED, RunStatus.SUCCEEDED] * 10
    assert list(runs_dir.iterdir()) == []
    assert [path for path in home.rglob("*") if not path.is_dir()] == []
    assert not (home / ".ansible" / "tmp").exists() or list((home / ".ansible" / "tmp").iterdir()) == []
