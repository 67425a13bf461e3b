"""The portal's pages work under a Content-Security-Policy without
'unsafe-inline': the header is there, and no template has inline code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db

TEMPLATES = Path(settings.BASE_DIR) / "templates"


def test_portal_pages_carry_a_strict_policy(client, requester):
    for url in ["/login/", "/"]:
        if url == "/":
            client.force_login(requester)
        policy = client.get(url)["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert "frame-ancestors 'none'" in policy


def test_the_admin_is_left_to_its_own_scripts(client):
    assert "Content-Security-Policy" not in client.get("/admin/login/")


#: Emails are read in mail clients, which ignore linked stylesheets: their
#: styles must be inline, and a page's CSP never applies to them.
PAGES = sorted(path for path in TEMPLATES.rglob("*.html") if "email" not in path.relative_to(TEMPLATES).parts)


@pytest.mark.parametrize("template", PAGES, ids=lambda path: path.name)
def test_no_template_has_inline_script_handler_or_style(template):
    source = template.read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", source), "inline <script>"
    assert not re.search(r"\son[a-z]+\s*=", source), "inline event handler"
    assert not re.search(r"\sstyle\s*=|<style", source), "inline style"
