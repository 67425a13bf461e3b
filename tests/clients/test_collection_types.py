"""How the collection types a task's inputs from a form (the "type trap":
values reach a play as strings) and derives its Idempotency-Key, without a
portal: the module_utils file loaded as Ansible loads it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "clients" / "ansible" / "plugins" / "module_utils" / "api.py"
_spec = importlib.util.spec_from_file_location("squadron_portal_api", SOURCE)
assert _spec is not None and _spec.loader is not None
api = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(api)

FORM = {
    "type": "object",
    "properties": {
        "vlan_id": {"type": "integer"},
        "cpu": {"type": "number"},
        "public": {"type": "boolean"},
        "label": {"type": "string"},
        "note": {"type": ["string", "null"]},
        "expires": {"type": ["integer", "null"]},
        "tags": {"type": "array", "items": {"type": "integer"}},
        "limits": {"type": "object", "properties": {"max": {"type": "integer"}}},
    },
}


@pytest.mark.parametrize(
    ("name", "given", "sent"),
    [
        ("vlan_id", "3901", 3901),
        ("vlan_id", " 3901 ", 3901),
        ("vlan_id", 3901.0, 3901),
        ("cpu", "1.5", 1.5),
        ("cpu", "2", 2),
        ("public", "true", True),
        ("public", "no", False),
        ("public", "False", False),
        ("label", 3901, "3901"),
        ("label", "0042", "0042"),
        ("note", "", ""),
        ("expires", "null", None),
        ("tags", ["1", "2"], [1, 2]),
        ("tags", "[1, 2]", [1, 2]),
        ("limits", {"max": "5"}, {"max": 5}),
        ("limits", '{"max": "5"}', {"max": 5}),
    ],
)
def test_a_value_takes_the_type_its_field_declares(name, given, sent):
    assert api.coerce_inputs({name: given}, FORM) == {name: sent}
    assert type(api.coerce_inputs({name: given}, FORM)[name]) is type(sent)


@pytest.mark.parametrize(
    ("name", "given"),
    [("vlan_id", "lots"), ("vlan_id", "3.5"), ("cpu", "nan"), ("public", "maybe"), ("tags", "[1,")],
)
def test_a_value_that_does_not_read_as_its_type_is_sent_as_it_is_for_the_portal_to_refuse(name, given):
    assert api.coerce_inputs({name: given}, FORM) == {name: given}


def test_a_field_the_form_does_not_declare_is_left_alone():
    assert api.coerce_inputs({"other": "12"}, FORM) == {"other": "12"}
    assert api.coerce_inputs({"vlan_id": "12"}, None) == {"vlan_id": "12"}


def test_the_key_is_the_same_for_the_same_request_and_differs_for_another():
    key = api.idempotency_key({"product": "vlan"}, {"vlan_id": 3901}, None, "")
    assert key == api.idempotency_key({"product": "vlan"}, {"vlan_id": 3901}, None, "")
    assert key.startswith("squadron.portal-") and len(key) <= 255
    assert all(0x21 <= ord(char) <= 0x7E for char in key)
    others = {
        api.idempotency_key({"product": "vlan"}, {"vlan_id": 3902}, None, ""),
        api.idempotency_key({"product": "vlan"}, {"vlan_id": 3901}, "finance", ""),
        api.idempotency_key({"product": "vlan"}, {"vlan_id": 3901}, None, "second"),
        api.idempotency_key({"product": "vm"}, {"vlan_id": 3901}, None, ""),
    }
    assert key not in others and len(others) == 4


def test_a_slug_from_a_play_stays_one_path_segment():
    assert api.path_of("products", "../orders/1") == "api/v1/products/..%2Forders%2F1/"


def test_the_token_goes_to_the_portal_only_never_to_a_host_a_link_names(monkeypatch):
    """A page's ``next`` link to another host (a proxy rewriting hosts, a
    poisoned answer) is refused before anything is sent there."""
    sent = []
    monkeypatch.setattr(api, "open_url", lambda url, **options: sent.append((url, options["headers"])))
    client = api.SquadronClient("https://portal.example.org/", "secret-token")

    assert client.address("/api/v1/orders/") == "https://portal.example.org/api/v1/orders/"
    assert client.address("https://PORTAL.example.org/api/v1/orders/?cursor=2") == (
        "https://PORTAL.example.org/api/v1/orders/?cursor=2"
    )
    for elsewhere in (
        "https://collector.example.net/api/v1/orders/?cursor=2",
        "http://portal.example.org/api/v1/orders/",
        "https://portal.example.org:8443/api/v1/orders/",
        "https://portal.example.org@collector.example.net/api/v1/orders/",
    ):
        with pytest.raises(api.SquadronError, match="the token is not sent there"):
            client.request("GET", elsewhere)
    assert sent == []


class _Answer:
    """What ``open_url`` returns: one page of a list, as the portal answers it."""

    def __init__(self, body: dict) -> None:
        self.body = json.dumps(body).encode()
        self.headers: dict[str, str] = {}

    def read(self) -> bytes:
        return self.body

    def getcode(self) -> int:
        return 200


def test_a_limited_list_filtered_by_name_finds_an_instance_past_the_first_page(monkeypatch):
    """Newest first, two a page: the one named billing-dev is the fifth. The
    limit counts the instances of that name, not those fetched before
    filtering (which reported it missing)."""
    base = "https://portal.example.org/api/v1/instances/"
    named = ["web-3", "web-2", "web-1", "db-1", "billing-dev"]
    pages = {
        f"{base}?cursor={index}" if index else base: {
            "next": f"{base}?cursor={index + 2}" if index + 2 < len(named) else None,
            "results": [{"id": len(named) - position, "name": name} for position, name in enumerate(named)][
                index : index + 2
            ],
        }
        for index in range(0, len(named), 2)
    }
    asked = []

    def serve(url, **options):
        asked.append(url)
        return _Answer(pages[url])

    monkeypatch.setattr(api, "open_url", serve)
    client = api.SquadronClient("https://portal.example.org/", "secret-token")

    def billing(item):
        return item["name"] == "billing-dev"

    assert client.pages("api/v1/instances/", limit=1, keep=billing) == [{"id": 1, "name": "billing-dev"}]
    assert len(asked) == 3
    asked.clear()
    # Once the limit is reached, no further page is fetched.
    newest = client.pages("api/v1/instances/", limit=3)
    assert [item["name"] for item in newest] == ["web-3", "web-2", "web-1"]
    assert asked == [base, f"{base}?cursor=2"]
