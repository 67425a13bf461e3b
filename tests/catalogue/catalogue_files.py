"""What the catalogue-file tests share: the sample catalogues under
``tests/data/catalogues``, running the import command, and snapshots of every
table an import may write."""

from __future__ import annotations

import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from catalogue.models import Category, ChoiceItem, ChoiceList, Product
from portal.consumption.models import BusinessUnit, BusinessUnitMembership, Quota
from runbooks.models import Runbook, RunbookVersion
from squads.models import Chapter, Membership, Squad

DATA = Path(__file__).parent.parent / "data" / "catalogues"
VALID_DIR = DATA / "valid"
VALID = VALID_DIR / "catalogue.yaml"
INVALID_DIR = DATA / "invalid"

User = get_user_model()
#: Every table an import may write, so "nothing changed" means nothing at all.
TABLES = {
    "users": User,
    "squads": Squad,
    "memberships": Membership,
    "chapters": Chapter,
    "chapter members": Chapter.members.through,
    "categories": Category,
    "runbooks": Runbook,
    "runbook versions": RunbookVersion,
    "products": Product,
    "dependencies": Product.depends_on.through,
    "business units": BusinessUnit,
    "business unit members": BusinessUnitMembership,
    "quotas": Quota,
    "choice lists": ChoiceList,
    "choice list items": ChoiceItem,
}

pytestmark = pytest.mark.django_db


def run_import(path: Path, *options: str) -> str:
    stdout, stderr = StringIO(), StringIO()
    call_command("import_catalogue", str(path), *options, stdout=stdout, stderr=stderr)
    return stdout.getvalue()


def failed_import(path: Path) -> str:
    """The errors printed by an import that must fail, after checking it failed."""
    stdout, stderr = StringIO(), StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_catalogue", str(path), stdout=stdout, stderr=stderr)
    return stderr.getvalue()


def counts() -> dict[str, int]:
    return {label: model.objects.count() for label, model in TABLES.items()}


def snapshot() -> dict[str, list[dict]]:
    """Every field of every row (timestamps and versions included)."""
    return {label: list(model.objects.order_by("pk").values()) for label, model in TABLES.items()}


def variant(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    """A copy of the valid catalogue (with its playbooks, and the broken ones)
    where each ``old`` text, found exactly once, is replaced by ``new``."""
    directory = tmp_path / "catalogue"
    shutil.copytree(VALID_DIR, directory)
    for playbook in (INVALID_DIR / "playbooks").iterdir():
        shutil.copy(playbook, directory / "playbooks" / playbook.name)
    path = directory / "catalogue.yaml"
    text = path.read_text()
    for old, new in replacements:
        assert text.count(old) == 1, f"{old!r} must occur once in the valid catalogue"
        text = text.replace(old, new)
    path.write_text(text)
    return path


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text().splitlines()
    matches = [number for number, line in enumerate(lines, start=1) if needle in line]
    assert len(matches) == 1, f"{needle!r} must be on exactly one line"
    return matches[0]
