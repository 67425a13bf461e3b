"""A real OpenLDAP directory for the LDAP login tests: Debian's ``slapd``
(``make ldap`` installs it) started as the current user on a free port, with
its configuration and database in a temporary directory of its own and the
people and groups of ``tests/data/ldap/directory.ldif`` loaded by ``slapadd``.

Nothing of it lives in the checkout but the LDIF, which slapadd reads as the
user running the tests: the checkout may be a 0700 clone. Without slapd the
tests that need it are skipped, or fail under ``SQUADRON_REQUIRE_LDAP=1`` (CI).

Use the ``ldap_directory`` fixture (registered by tests/conftest.py) and
``ldap_settings(directory)`` for the ``SQUADRON_LDAP_*`` that point at it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

try:
    import ldap
except ImportError:  # make install leaves python-ldap out without OpenLDAP's headers
    ldap = None

LDIF = Path(__file__).parent / "data" / "ldap" / "directory.ldif"
SUFFIX = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "root-of-the-test-directory"
SLAPD = shutil.which("slapd") or next(
    (path for path in ("/usr/sbin/slapd",) if os.access(path, os.X_OK)), None
)
SLAPADD = shutil.which("slapadd") or next(
    (path for path in ("/usr/sbin/slapadd",) if os.access(path, os.X_OK)), None
)
MODULES = "/usr/lib/ldap"

CONFIG = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath {modules}
moduleload back_mdb
moduleload ppolicy
pidfile {home}/slapd.pid

database mdb
suffix "{suffix}"
rootdn "{root_dn}"
rootpw {root_password}
directory {home}/data
maxsize 10485760
# The password policy: an account with pwdAccountLockedTime cannot bind.
overlay ppolicy
ppolicy_default "cn=default,ou=policies,{suffix}"

# Passwords are only for binding; only those bound (Squadron's own account)
# may search, as in a company directory.
access to attrs=userPassword by anonymous auth by * none
access to * by users read by * none
"""


@dataclass(frozen=True)
class Directory:
    uri: str
    home: Path

    def admin(self) -> Any:
        """A connection bound as the directory's root, to change it as its administrators would."""
        connection = ldap.initialize(self.uri)
        connection.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
        return connection

    def move(self, uid: str, *, from_group: str, to_group: str) -> None:
        """Take ``uid`` out of one group and put them in another (what ``ldapmodify`` would do)."""
        person = f"uid={uid},ou=people,{SUFFIX}".encode()
        connection = self.admin()
        try:
            connection.modify_s(
                f"cn={from_group},ou=groups,{SUFFIX}", [(ldap.MOD_DELETE, "member", [person])]
            )
            connection.modify_s(f"cn={to_group},ou=groups,{SUFFIX}", [(ldap.MOD_ADD, "member", [person])])
        finally:
            connection.unbind_s()

    def lock(self, uid: str) -> None:
        """Disable ``uid`` as OpenLDAP's password policy does: every bind refused."""
        connection = self.admin()
        try:
            connection.modify_s(
                f"uid={uid},ou=people,{SUFFIX}",
                [(ldap.MOD_REPLACE, "pwdAccountLockedTime", [b"000001010000Z"])],
            )
        finally:
            connection.unbind_s()


def ldap_settings(directory: Directory, **overrides: Any) -> dict[str, Any]:
    """The ``SQUADRON_LDAP_*`` settings of a Squadron that logs in against ``directory``."""
    values = {
        "SQUADRON_LDAP_SERVER_URI": directory.uri,
        "SQUADRON_LDAP_BIND_DN": f"cn=squadron,ou=services,{SUFFIX}",
        "SQUADRON_LDAP_BIND_PASSWORD": "squadron-bind-pw",
        "SQUADRON_LDAP_USER_SEARCH_BASE": f"ou=people,{SUFFIX}",
        "SQUADRON_LDAP_USER_FILTER": "(uid=%(user)s)",
        "SQUADRON_LDAP_GROUP_SEARCH_BASE": f"ou=groups,{SUFFIX}",
        "SQUADRON_LDAP_GROUP_TYPE": "groupOfNames",
        "SQUADRON_LDAP_START_TLS": False,
        "SQUADRON_LDAP_TIMEOUT": 5,
    }
    values.update(overrides)
    return values


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(uri: str) -> bool:
    connection = ldap.initialize(uri)
    connection.set_option(ldap.OPT_NETWORK_TIMEOUT, 1)
    try:
        connection.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
    except ldap.LDAPError:
        return False
    connection.unbind_s()
    return True


def _start(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    config = home / "slapd.conf"
    config.write_text(
        CONFIG.format(modules=MODULES, home=home, suffix=SUFFIX, root_dn=ROOT_DN, root_password=ROOT_PASSWORD)
    )
    (home / "data").mkdir(mode=0o700)
    assert SLAPADD is not None
    subprocess.run([SLAPADD, "-q", "-f", str(config), "-l", str(LDIF)], check=True, capture_output=True)
    port = free_port()
    uri = f"ldap://127.0.0.1:{port}"
    log = (home / "slapd.log").open("wb")
    # -d 0: stays in the foreground (so it is this process's child to stop), logging nothing.
    process = subprocess.Popen(
        [SLAPD, "-f", str(config), "-h", uri, "-d", "0"], stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 30
    while not _answers(uri):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"slapd did not start: {(home / 'slapd.log').read_text()}")
        time.sleep(0.05)
    return process, uri


@pytest.fixture
def ldap_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Directory]:
    """A fresh directory for each test: tests change its groups and locks."""
    if SLAPD is None or SLAPADD is None or ldap is None:
        missing = "python-ldap" if ldap is None else "slapd"
        if os.environ.get("SQUADRON_REQUIRE_LDAP"):
            pytest.fail(f"{missing} is required (SQUADRON_REQUIRE_LDAP) but missing: run make ldap install")
        pytest.skip(f"{missing} is not installed (make ldap and OpenLDAP's headers install it)")
    home = tmp_path_factory.mktemp("slapd")
    home.chmod(0o700)
    process, uri = _start(home)
    try:
        yield Directory(uri=uri, home=home)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
