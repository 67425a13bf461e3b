"""import_catalogue reads nothing outside the catalogue's folder (no ``..``,
no symbolic links, no FIFO) and lets no YAML expand (aliases, merge keys,
deep nesting, too many values)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runbooks.models import RunbookVersion
from tests.catalogue.catalogue_files import (
    counts,
    failed_import,
    line_of,
    snapshot,
    variant,
)
from tests.deadline import deadline

pytestmark = pytest.mark.django_db


OUTSIDE_PLAYBOOK = "- hosts: localhost\n  tasks:\n    - ansible.builtin.debug: {msg: from outside}\n"


LINK = "goes through a symbolic link"


def bomb(levels: int = 9) -> str:
    """A "billion laughs" as a flow list: ``levels`` anchors of nine aliases
    each, on one line per level, for a form's ``examples``."""
    lines = ['[&l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"],']
    for level in range(1, levels):
        lines.append(f"  &l{level} [{','.join([f'*l{level - 1}'] * 9)}],")
    return "\n".join(lines) + "]"


def assert_refused_at(catalogue: Path, line_text: str, path: str, message: str) -> None:
    """The import fails with ``message`` at the line holding ``line_text``."""
    before_counts, before = counts(), snapshot()

    errors = failed_import(catalogue)

    line = line_of(catalogue, line_text)
    located = [error for error in errors.splitlines() if error.startswith(f"{catalogue}:{line}: {path}")]
    assert any(message in error for error in located), errors
    assert counts() == before_counts
    assert snapshot() == before


@pytest.mark.parametrize(
    "playbook",
    ["../outside.yml", "playbooks/../../outside.yml", "./../outside.yml", "playbooks/../create_vm.yml"],
)
def test_a_playbook_path_with_dot_dot_is_refused(tmp_path: Path, existing: dict, playbook: str) -> None:
    (tmp_path / "outside.yml").write_text(OUTSIDE_PLAYBOOK)
    catalogue = variant(tmp_path, ("playbooks/create_vm.yml", playbook))

    assert_refused_at(
        catalogue, playbook, "runbooks[1].playbook", "must stay inside the catalogue file's folder"
    )
    assert not RunbookVersion.objects.filter(content=OUTSIDE_PLAYBOOK).exists()


def test_a_playbook_that_is_a_symbolic_link_to_a_file_outside_is_refused(
    tmp_path: Path, existing: dict
) -> None:
    (tmp_path / "outside.yml").write_text(OUTSIDE_PLAYBOOK)
    catalogue = variant(tmp_path, ("playbooks/create_vm.yml", "playbooks/linked.yml"))
    (catalogue.parent / "playbooks" / "linked.yml").symlink_to(tmp_path / "outside.yml")

    assert_refused_at(
        catalogue, "playbooks/linked.yml", "runbooks[1].playbook", "goes through a symbolic link"
    )
    assert not RunbookVersion.objects.filter(content=OUTSIDE_PLAYBOOK).exists()


def test_a_symbolic_link_is_refused_even_when_it_points_inside(tmp_path: Path, existing: dict) -> None:
    catalogue = variant(tmp_path, ("playbooks/create_vm.yml", "playbooks/same.yml"))
    (catalogue.parent / "playbooks" / "same.yml").symlink_to("create_vm.yml")

    assert_refused_at(catalogue, "playbooks/same.yml", "runbooks[1].playbook", LINK)


def test_a_playbook_under_a_linked_folder_is_refused(tmp_path: Path, existing: dict) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "create_vm.yml").write_text(OUTSIDE_PLAYBOOK)
    catalogue = variant(tmp_path, ("playbooks/create_vm.yml", "shared/create_vm.yml"))
    (catalogue.parent / "shared").symlink_to(elsewhere, target_is_directory=True)

    assert_refused_at(
        catalogue, "shared/create_vm.yml", "runbooks[1].playbook", "goes through a symbolic link"
    )
    assert not RunbookVersion.objects.filter(content=OUTSIDE_PLAYBOOK).exists()


def test_a_playbook_that_is_a_folder_or_a_fifo_is_refused_without_waiting(
    tmp_path: Path, existing: dict
) -> None:
    catalogue = variant(tmp_path, ("playbooks/create_vm.yml", "playbooks/pipe.yml"))
    os.mkfifo(catalogue.parent / "playbooks" / "pipe.yml")

    with deadline(10):
        assert_refused_at(catalogue, "playbooks/pipe.yml", "runbooks[1].playbook", "is not a file")
    folder = variant(tmp_path / "again", ("playbooks/create_vm.yml", "./playbooks"))
    assert_refused_at(folder, "./playbooks", "runbooks[1].playbook", "is not a file")


def test_a_billion_laughs_in_a_forms_examples_is_refused_at_once(tmp_path: Path, existing: dict) -> None:
    laughs = bomb()
    assert len(laughs) <= 1300
    catalogue = variant(
        tmp_path,
        (
            "hostname: {type: string, format: hostname, title: Host name}",
            f"hostname: {{type: string, format: hostname, title: Host name, examples: {laughs}}}",
        ),
    )

    with deadline(10):
        assert_refused_at(catalogue, "&l0", "", "YAML anchors and aliases are not accepted (&l0 at line")


def test_a_recursive_alias_in_the_catalogue_is_refused(tmp_path: Path, existing: dict) -> None:
    catalogue = variant(
        tmp_path,
        ("    tags: [ip, ipam]\n", "    tags: &tags [ip, *tags]\n"),
    )

    assert_refused_at(catalogue, "&tags", "", "YAML anchors and aliases are not accepted (&tags at line")


def test_a_merge_key_is_an_alias_too(tmp_path: Path, existing: dict) -> None:
    catalogue = variant(
        tmp_path,
        (
            "    timeout: 1200\n",
            "    timeout: 1200\n    <<: *defaults\n",
        ),
        ("  - slug: create-vlan\n", "  - &defaults\n    slug: create-vlan\n"),
    )

    assert_refused_at(catalogue, "&defaults", "", "anchors and aliases are not accepted")


def test_a_playbook_with_an_alias_is_refused_with_its_line(tmp_path: Path, existing: dict) -> None:
    catalogue = variant(tmp_path, ("playbooks/create_vm.yml", "playbooks/aliased.yml"))

    assert_refused_at(
        catalogue,
        "playbooks/aliased.yml",
        "runbooks[1].playbook",
        "The playbook cannot be accepted: YAML anchors and aliases are not accepted (&task at line 5)",
    )


def test_a_form_nested_too_deep_is_refused_not_a_recursion_error(tmp_path: Path, existing: dict) -> None:
    deep = "[" * 3000 + "]" * 3000
    catalogue = variant(
        tmp_path,
        (
            "hostname: {type: string, format: hostname, title: Host name}",
            f"hostname: {{type: string, format: hostname, title: Host name, examples: {deep}}}",
        ),
    )

    assert_refused_at(catalogue, "examples: [[[", "", "nested too deep")


def test_a_catalogue_with_too_many_values_is_refused(tmp_path: Path, existing: dict, monkeypatch) -> None:
    from catalogue.importing import document

    monkeypatch.setattr(document.CatalogueLoader, "max_nodes", 50)
    catalogue = variant(tmp_path)

    errors = failed_import(catalogue)

    assert "the document is too large: more than 50 values" in errors
    assert counts()["squads"] == 1  # only the existing one
