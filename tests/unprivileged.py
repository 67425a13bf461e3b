"""Run a test's processes as an unprivileged user, with what they need.

Root may read every process's ``/proc`` entries whatever their flags, so
the checks "from the playbook's side" run the service's processes and the
prying one as ``nobody``. That user must be given what those processes
need explicitly: the checkout (and its virtualenv, and the interpreter's
own installation) may sit under a directory ``nobody`` cannot traverse, such
as the 0700 folder ``mktemp -d`` makes. Files are hard-linked (copied across
file systems) into a fresh 0755 directory under a base every user reaches.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

NOBODY = 65534
PROJECT_PARTS = ("manage.py", "portal", "runbooks", "squads", "catalogue", "templates")
# Console scripts the compose commands call by name.
CONSOLE_SCRIPTS = {"gunicorn": "gunicorn.app.wsgiapp:run", "celery": "celery.__main__:main"}


def as_nobody() -> list[str]:
    """The prefix that runs a command as ``nobody`` (nothing when not root:
    then the test's own user is the unprivileged one)."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def _traversable_by_all(path: Path) -> bool:
    return all(
        directory.stat().st_mode & stat.S_IXOTH for directory in [path.resolve(), *path.resolve().parents]
    )


@contextmanager
def shared_directory() -> Iterator[Path]:
    """A fresh directory every user can reach, removed afterwards."""
    bases = [Path(tempfile.gettempdir()), Path("/tmp"), Path("/var/tmp"), Path("/dev/shm")]
    base = next((base for base in bases if base.is_dir() and _traversable_by_all(base)), None)
    if base is None:
        raise RuntimeError(f"none of {bases} can be reached by every user")
    directory = Path(tempfile.mkdtemp(prefix="squadron-nobody-", dir=base))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def link_tree(source: Path, destination: Path) -> None:
    """``source`` (a file or a tree) at ``destination``, readable by all as
    its files are (hard links share the originals' modes)."""
    if source.is_dir():
        shutil.copytree(
            source,
            destination,
            symlinks=True,
            copy_function=_link_or_copy,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    else:
        destination.parent.mkdir(parents=True, exist_ok=True)
        _link_or_copy(str(source), str(destination))


def _runs_for_nobody(python: Path, env: dict[str, str]) -> bool:
    result = subprocess.run(
        [*as_nobody(), str(python), "-c", "import encodings"], env=env, capture_output=True, timeout=60
    )
    return result.returncode == 0


def interpreter_for_nobody(directory: Path) -> tuple[Path, dict[str, str]]:
    """This interpreter's base installation as ``nobody`` can run it, and
    the environment it needs: the installation itself when every user
    reaches it, else a linked copy under ``directory``."""
    real = Path(os.path.realpath(sys.executable))
    base = Path(sys.base_prefix)
    if _traversable_by_all(real.parent) and _traversable_by_all(base) and _runs_for_nobody(real, {}):
        return real, {}
    copy = directory / "python"
    link_tree(base, copy)
    python = copy / real.relative_to(base)
    # A shared build finds libpython through a run path inside the original.
    env = {
        "LD_LIBRARY_PATH": str(
            copy / Path(sysconfig.get_config_var("LIBDIR") or base / "lib").relative_to(base)
        )
    }
    if not _runs_for_nobody(python, env):
        raise RuntimeError(f"{python} cannot run as an unprivileged user")
    return python, env


def venv_for_nobody(directory: Path) -> tuple[Path, dict[str, str]]:
    """A virtualenv under ``directory`` with this one's packages and console
    scripts, that ``nobody`` can run; its bin folder and environment."""
    python, env = interpreter_for_nobody(directory)
    venv = directory / "venv"
    subprocess.run(
        [str(python), "-m", "venv", "--without-pip", str(venv)],
        env={**os.environ, **env},
        check=True,
        timeout=120,
    )
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site_packages = venv / "lib" / version / "site-packages"
    shutil.rmtree(site_packages)
    link_tree(Path(sysconfig.get_paths()["purelib"]), site_packages)
    for name, target in CONSOLE_SCRIPTS.items():
        module, function = target.split(":")
        script = venv / "bin" / name
        lines = [f"#!{venv / 'bin' / 'python'}", "import sys", f"from {module} import {function}"]
        script.write_text("\n".join([*lines, f"sys.exit({function}())", ""]))
        script.chmod(0o755)
    return venv / "bin", env


def project_for_nobody(root: Path, directory: Path) -> Path:
    """The parts of the project the service's processes load, under ``directory``."""
    project = directory / "project"
    for part in PROJECT_PARTS:
        link_tree(root / part, project / part)
    return project
