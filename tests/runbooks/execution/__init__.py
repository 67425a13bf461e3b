"""Tests of the executor (``runbooks.execution``): real playbooks run by the
real ansible-runner, in private directories under the test's ``tmp_path``
(the ``dirs`` fixture of this package's conftest)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import connections

from runbooks.execution.run import execute_run
from runbooks.models import Run


def execute(run: Run, inputs: dict[str, Any] | None = None) -> Run:
    return execute_run(run_id=run.pk, inputs=inputs or {}, secret_names=set())


def execute_in_thread(run: Run) -> tuple[threading.Thread, dict[str, Any]]:
    """``execute_run`` in a thread of its own (with its own database
    connection), as a worker would."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["run"] = execute(run)
        except BaseException as error:  # noqa: BLE001 (re-raised in the test by finish())
            outcome["error"] = error
        finally:
            outcome["finished_at"] = time.monotonic()
            connections.close_all()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def wait_for(condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout} s")


def finish(thread: threading.Thread, outcome: dict[str, Any]) -> Run:
    thread.join(timeout=60)
    assert not thread.is_alive()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["run"]
