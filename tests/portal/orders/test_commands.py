"""The one table of order commands: the pages, the API and the offered
actions all come from it."""

from __future__ import annotations

from django.urls import reverse

from portal.api.orders.views import OrderViewSet
from portal.orders.commands import COMMAND_NAMES, COMMANDS


def test_every_command_has_its_page_url_and_its_api_action():
    api_actions = {action.url_path for action in OrderViewSet.get_extra_actions()}
    assert api_actions == set(COMMAND_NAMES)
    for name in COMMAND_NAMES:
        assert reverse(f"order-{name}", args=[7]) == f"/orders/7/{name}/"
        assert reverse(f"api:order-{name}", args=[7]) == f"/api/v1/orders/7/{name}/"


def test_a_command_that_must_say_why_takes_a_reason():
    required = {command.name for command in COMMANDS if command.text_required}
    assert required == {"reject", "fail"}
    assert all(command.text == "reason" for command in COMMANDS if command.text_required)
