"""A runbook's ``network: none`` in the catalogue file: imported, refused
when misspelt (nothing written), and exported back."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from runbooks.choices import RunbookNetwork
from runbooks.models import Runbook

pytestmark = pytest.mark.django_db

PLAYBOOK = "- hosts: localhost\n  gather_facts: false\n  tasks: []\n"


def catalogue(tmp_path: Path, network: object) -> Path:
    (tmp_path / "render.yml").write_text(PLAYBOOK)
    runbook = {"slug": "render-config", "name": "Render config", "squad": "network", "playbook": "render.yml"}
    if network is not None:
        runbook["network"] = network
    path = tmp_path / "catalogue.yaml"
    path.write_text(
        yaml.safe_dump({"squads": [{"slug": "network", "name": "Network"}], "runbooks": [runbook]})
    )
    return path


def test_a_runbook_without_network_is_imported_and_exported_as_such(tmp_path):
    call_command("import_catalogue", str(catalogue(tmp_path, "none")), stdout=StringIO())

    assert Runbook.objects.get(slug="render-config").network == RunbookNetwork.NONE
    exported = tmp_path / "out" / "catalogue.yaml"
    call_command("export_catalogue", "--output", str(exported), stdout=StringIO())
    [runbook] = yaml.safe_load(exported.read_text())["runbooks"]
    assert runbook["network"] == "none"


def test_a_runbook_with_the_workers_network_is_the_default_and_not_written_out(tmp_path):
    call_command("import_catalogue", str(catalogue(tmp_path, None)), stdout=StringIO())

    assert Runbook.objects.get(slug="render-config").network == RunbookNetwork.WORKER
    exported = tmp_path / "out" / "catalogue.yaml"
    call_command("export_catalogue", "--output", str(exported), stdout=StringIO())
    assert "network" not in yaml.safe_load(exported.read_text())["runbooks"][0]


def test_an_unknown_network_is_refused_with_its_location_and_nothing_is_written(tmp_path):
    errors = StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_catalogue", str(catalogue(tmp_path, "off")), stdout=StringIO(), stderr=errors)

    assert "catalogue.yaml:3: runbooks[0].network: unknown network 'off'; use one of worker, none" in (
        errors.getvalue()
    )
    assert not Runbook.objects.exists()
