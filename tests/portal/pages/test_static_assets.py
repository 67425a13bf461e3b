"""The pages' scripts, styles and icon come from the app itself, never a CDN."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


def test_pages_load_their_scripts_and_styles_from_the_app(client, requester):
    client.force_login(requester)
    html = client.get("/").content.decode()
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert "/static/vendor/htmx/htmx.min.js" in sources
    assert "/static/js/squadron.js" in sources and "/static/css/squadron.css" in sources
    assert all(source.startswith("/static/") for source in sources), sources
    assert "axe" not in html  # the accessibility checker is the tests' tool only


def test_the_favicon_browsers_ask_for_is_the_portals_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("img/squadron.svg")
