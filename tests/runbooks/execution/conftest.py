"""The ``dirs`` fixture: the run and output directories of the executor
under the test's ``tmp_path``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runbooks import use_private_dirs


@pytest.fixture
def dirs(settings, tmp_path) -> tuple[Path, Path]:
    return use_private_dirs(settings, tmp_path)
