"""A real OpenID provider for the tests: panva's oidc-provider run by Node
(``oidc_provider/server.js``, installed by ``make idp``), its users, groups,
redirect URIs and misbehaviour in a JSON file it rereads at each use.

Without Node or ``make idp`` the tests that need it skip, unless
``SQUADRON_REQUIRE_IDP=1`` (CI), where that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from portal.identity.oidc_config import discovery_forget

HERE = Path(__file__).parent / "oidc_provider"
CLIENT_ID = "squadron-tests"
CLIENT_SECRET = "a-client-secret-for-tests-only"
#: Where Django's test client is, as the provider's redirect URI sees it.
TEST_CLIENT_CALLBACK = "http://testserver/oidc/callback/"


def user(username: str, *, sub: str | None = None, groups: list[str] | None = None, **claims: Any) -> dict:
    """A person at the provider; their password is ``pw-{username}``."""
    return {
        "sub": sub or f"sub-{username}",
        "username": username,
        "password": f"pw-{username}",
        "email": f"{username}@corp.example",
        "name": f"{username.title()} Example",
        "given_name": username.title(),
        "family_name": "Example",
        "groups": groups or [],
        "disabled": False,
        **claims,
    }


class OpenIdProvider:
    """The running provider and its state file."""

    def __init__(self, directory: Path) -> None:
        self.state_file = directory / "provider.json"
        self.port = _free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[str] | None = None
        self.reset()

    def reset(self) -> None:
        self.state: dict[str, Any] = {
            "client": {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [TEST_CLIENT_CALLBACK],
            },
            "users": [],
            "tamper": None,
        }
        self._save()

    def _save(self) -> None:
        # Written whole then renamed: the provider never reads half a file.
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.state))
        temporary.replace(self.state_file)

    def add_user(self, **fields: Any) -> dict:
        person = user(**fields)
        self.state["users"].append(person)
        self._save()
        return person

    def change_user(self, who: str, /, **fields: Any) -> None:
        """Change the person whose username is ``who`` (their username too)."""
        for person in self.state["users"]:
            if person["username"] == who:
                person.update(fields)
        self._save()

    def tamper(self, how: str | None) -> None:
        self.state["tamper"] = how
        self._save()

    def allow_redirect(self, uri: str) -> None:
        self.state["client"]["redirect_uris"].append(uri)
        self._save()

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["node", str(HERE / "server.js")],
            cwd=HERE,
            env={**os.environ, "PORT": str(self.port), "STATE_FILE": str(self.state_file)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        stdout = self.process.stdout
        assert stdout is not None
        lines: list[str] = []
        ready = threading.Event()

        def read() -> None:
            for line in stdout:
                lines.append(line)
                if line.startswith("listening "):
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(30):
            self.stop()
            raise RuntimeError("the test OpenID provider did not start:\n" + "".join(lines))

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def _running_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenIdProvider]:
    missing = None
    if shutil.which("node") is None:
        missing = "node is not installed"
    elif not (HERE / "node_modules" / "oidc-provider").is_dir():
        missing = "the test OpenID provider is not installed (make idp)"
    if missing is not None:
        if os.environ.get("SQUADRON_REQUIRE_IDP") == "1":
            pytest.fail(f"SQUADRON_REQUIRE_IDP=1 but {missing}")
        pytest.skip(missing)
    provider = OpenIdProvider(tmp_path_factory.mktemp("openid-provider"))
    provider.start()
    yield provider
    provider.stop()


@pytest.fixture
def openid_provider(_running_provider: OpenIdProvider, settings: Any) -> Iterator[OpenIdProvider]:
    """The provider with no users yet, and Squadron set up to sign in with it."""
    provider = _running_provider
    provider.reset()
    if provider.process is None:  # a test stopped it
        provider.start()
    settings.SQUADRON_OIDC_ISSUER = provider.issuer
    settings.SQUADRON_OIDC_CLIENT_ID = CLIENT_ID
    settings.SQUADRON_OIDC_CLIENT_SECRET = CLIENT_SECRET
    settings.SQUADRON_OIDC_NAME = "Corp ID"
    settings.SQUADRON_OIDC_SCOPES = "openid email profile groups"
    discovery_forget()
    yield provider
    discovery_forget()


def provider_sign_in(provider: OpenIdProvider, login_url: str, *, username: str, password: str) -> str:
    """What a browser does at the provider: follow ``login_url`` (where
    Squadron sent it), log in, and return the URL the provider sends it back
    to (Squadron's callback with its code and state)."""
    browser = requests.Session()
    url, method, data = login_url, "GET", None
    for _ in range(20):
        answer = browser.request(method, url, data=data, allow_redirects=False, timeout=10)
        if answer.is_redirect:
            url, method, data = urljoin(url, answer.headers["Location"]), "GET", None
            if urlsplit(url).netloc != urlsplit(provider.issuer).netloc:
                return url
            continue
        if answer.status_code == 200 and 'name="password"' in answer.text:
            path = answer.text.split('action="', 1)[1].split('"', 1)[0]
            url, method = urljoin(url, path), "POST"
            data = {"username": username, "password": password}
            continue
        raise AssertionError(f"the provider answered {answer.status_code}: {answer.text[:500]}")
    raise AssertionError("the provider kept redirecting")
