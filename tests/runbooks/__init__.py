"""Helpers shared by the runbooks tests: real playbooks run by the real
executor, in private directories under the test's ``tmp_path``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from runbooks.models import Credential, Run
from runbooks.services import run_create
from tests.factories import RunbookFactory

PLAYBOOKS = Path(__file__).parent / "playbooks"


def playbook(name: str) -> str:
    return (PLAYBOOKS / f"{name}.yml").read_text()


def make_run(
    name: str,
    *,
    timeout: int = 60,
    credentials: Iterable[Credential] = (),
    check_mode: bool = False,
    masked_inputs: dict[str, Any] | None = None,
) -> Run:
    """A pending run of a new runbook whose playbook is ``playbooks/<name>.yml``."""
    runbook = RunbookFactory(playbook=playbook(name), timeout=timeout)
    runbook.credentials.set(credentials)
    return run_create(
        runbook_version=runbook.current_version, masked_inputs=masked_inputs or {}, check_mode=check_mode
    )


def use_private_dirs(settings: Any, tmp_path: Path) -> tuple[Path, Path]:
    """Point the run and output directories of the executor into ``tmp_path``."""
    settings.SQUADRON_RUN_DIR = str(tmp_path / "runs")
    settings.SQUADRON_OUTPUT_DIR = tmp_path / "output"
    return tmp_path / "runs", tmp_path / "output"


def output_of(output_dir: Path, run: Run) -> Path:
    """The output folder of the squad whose runbook ``run`` ran."""
    return output_dir / run.runbook_version.runbook.squad.slug
