"""Who reads the trail (platform leads and superusers; anyone else finds no
such page or endpoint), its filters, its downloads, and that nothing can
change or delete an entry."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from portal.audit.models import AuditEntry, AuditTrailIsAppendOnly
from portal.integrations.tokens import token_create
from squads.choices import Role
from tests.factories import MembershipFactory, SquadFactory, UserFactory

pytestmark = pytest.mark.django_db

#: Before anything a test does itself.
BEFORE = "2021-01-01T00:00:00Z"


@pytest.fixture
def lead(db: None) -> User:
    return MembershipFactory(
        user=UserFactory(username="marcus"), squad=SquadFactory(slug="platform"), role=Role.PLATFORM_LEAD
    ).user


@pytest.fixture
def trail(db: None) -> list[AuditEntry]:
    """Three entries of different actors, kinds, actions and days, long ago:
    what the test's own users and logins add comes after (``BEFORE``)."""
    now = datetime(2020, 6, 15, 12, tzinfo=UTC)
    return [
        AuditEntry.objects.create(
            at=now - timedelta(days=10),
            actor="nora",
            via="admin",
            address="192.0.2.1",
            action="changed",
            object_type="catalogue.product",
            object_id="1",
            object_repr="New VLAN",
            changes={"name": {"before": "VLAN", "after": "New VLAN"}},
        ),
        AuditEntry.objects.create(
            at=now - timedelta(days=1),
            actor="bea",
            via="api",
            address="192.0.2.2",
            action="created",
            object_type="portal.apitoken",
            object_id="7",
            object_repr='=HYPERLINK("http://evil")',
            changes={"name": {"before": None, "after": "ci"}},
        ),
        AuditEntry.objects.create(
            at=now,
            actor="anonymous",
            via="web",
            address="203.0.113.9",
            action="locked_out",
            object_type="auth.user",
            object_repr="rita",
        ),
    ]


def client_of(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def shown(response) -> list[str]:  # type: ignore[no-untyped-def]
    page = response.content.decode()
    return [name for name in ("New VLAN", "HYPERLINK", "rita") if name in page]


def test_a_platform_lead_and_a_superuser_read_the_trail(lead, admin_user, trail) -> None:  # type: ignore[no-untyped-def]
    for user in (lead, admin_user):
        response = client_of(user).get("/audit/")
        assert response.status_code == 200
        assert shown(response) == ["New VLAN", "HYPERLINK", "rita"]


@pytest.mark.parametrize("who", ["requester", "member", "outsider"])
def test_anyone_else_finds_no_audit_page_no_export_and_no_endpoint(request, who, trail) -> None:  # type: ignore[no-untyped-def]
    user = request.getfixturevalue(who)
    client = client_of(user)
    assert client.get("/audit/").status_code == 404
    assert client.get("/audit/export.csv").status_code == 404
    assert client.get("/audit/export.jsonl").status_code == 404
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_create(user=user, name='x').key}")
    response = api.get("/api/v1/audit/")
    assert response.status_code == 404 and "results" not in response.json()
    assert api.get("/api/v1/audit/", {"export": "jsonl"}).status_code == 404


def test_anonymous_is_sent_to_log_in_and_the_api_wants_credentials(trail) -> None:  # type: ignore[no-untyped-def]
    assert Client().get("/audit/").status_code == 302
    assert APIClient().get("/api/v1/audit/").status_code in (401, 403)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"actor": "NORA"}, ["New VLAN"]),
        ({"object_type": "auth.user"}, ["rita"]),
        ({"action": "created"}, ["HYPERLINK"]),
        ({"since": "SINCE"}, ["HYPERLINK", "rita"]),
        ({"until": "SINCE"}, ["New VLAN"]),
        ({"q": "vlan"}, ["New VLAN"]),
        ({"q": "203.0.113"}, ["rita"]),
        ({"actor": "nora", "action": "deleted"}, []),
    ],
)
def test_the_page_filters(lead, trail, query, expected) -> None:  # type: ignore[no-untyped-def]
    since = datetime(2020, 6, 12, tzinfo=UTC).isoformat()
    query = {key: since if value == "SINCE" else value for key, value in query.items()}
    response = client_of(lead).get("/audit/", query)
    assert response.status_code == 200
    assert shown(response) == expected


def test_a_wrong_filter_value_says_so_and_shows_nothing(lead, trail) -> None:  # type: ignore[no-untyped-def]
    response = client_of(lead).get("/audit/", {"since": "yesterday-ish"})
    assert response.status_code == 200
    assert shown(response) == [] and "Enter a valid date/time" in response.content.decode()


def test_the_csv_download_has_the_filtered_entries_with_formulas_defused(lead, trail) -> None:  # type: ignore[no-untyped-def]
    response = client_of(lead).get("/audit/export.csv", {"via": "ignored", "object_type": "portal.apitoken"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 1
    assert rows[0]["object_repr"] == '\'=HYPERLINK("http://evil")'
    assert json.loads(rows[0]["changes"]) == {"name": {"before": None, "after": "ci"}}
    assert rows[0]["actor"] == "bea" and rows[0]["address"] == "192.0.2.2"


def test_the_json_lines_download_has_one_entry_a_line(lead, trail) -> None:  # type: ignore[no-untyped-def]
    response = client_of(lead).get("/audit/export.jsonl", {"until": BEFORE})
    lines = b"".join(response.streaming_content).decode().splitlines()
    entries = [json.loads(line) for line in lines]
    assert [entry["object_repr"] for entry in entries] == ["rita", '=HYPERLINK("http://evil")', "New VLAN"]
    assert entries[2]["changes"] == {"name": {"before": "VLAN", "after": "New VLAN"}}


def test_the_api_lists_filters_pages_and_exports(lead, trail) -> None:  # type: ignore[no-untyped-def]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_create(user=lead, name='siem').key}")
    first = api.get("/api/v1/audit/", {"page_size": 2, "until": BEFORE}).json()
    assert [entry["object_repr"] for entry in first["results"]] == ["rita", '=HYPERLINK("http://evil")']
    rest = api.get(first["next"]).json()
    assert [entry["object_repr"] for entry in rest["results"]] == ["New VLAN"] and rest["next"] is None
    only = api.get("/api/v1/audit/", {"object_type": "catalogue.product"}).json()["results"]
    assert len(only) == 1 and only[0]["changes"]["name"] == {"before": "VLAN", "after": "New VLAN"}
    assert only[0]["actor"] == "nora" and only[0]["address"] == "192.0.2.1" and only[0]["via"] == "admin"
    export = api.get("/api/v1/audit/", {"export": "jsonl", "actor": "bea"})
    assert [
        json.loads(line)["actor"] for line in b"".join(export.streaming_content).decode().splitlines()
    ] == ["bea"]
    assert api.get("/api/v1/audit/", {"export": "xlsx"}).status_code == 400


def test_the_api_cannot_write_the_trail(lead, trail) -> None:  # type: ignore[no-untyped-def]
    api = APIClient()
    api.force_authenticate(lead)
    api.get("/api/v1/audit/")
    before = list(AuditEntry.objects.values())
    for method in ("post", "put", "patch", "delete"):
        assert getattr(api, method)("/api/v1/audit/", {"actor": "x"}, format="json").status_code == 405
    assert list(AuditEntry.objects.values()) == before


def test_nothing_changes_or_deletes_an_entry(admin_user, trail) -> None:  # type: ignore[no-untyped-def]
    entry = trail[0]
    admin = client_of(admin_user)
    before = list(AuditEntry.objects.values())
    entry.actor = "someone-else"
    with pytest.raises(AuditTrailIsAppendOnly):
        entry.save()
    with pytest.raises(AuditTrailIsAppendOnly):
        entry.delete()
    with pytest.raises(AuditTrailIsAppendOnly):
        AuditEntry.objects.filter(pk=entry.pk).update(actor="x")
    with pytest.raises(AuditTrailIsAppendOnly):
        AuditEntry.objects.all().delete()
    assert admin.get(f"/admin/audit/auditentry/{entry.pk}/change/").status_code == 200  # read-only view
    admin.post(f"/admin/audit/auditentry/{entry.pk}/change/", {"actor": "x"})
    assert admin.post(f"/admin/audit/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin.get("/admin/audit/auditentry/add/").status_code == 403
    assert list(AuditEntry.objects.values()) == before


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the database's own guard is PostgreSQL's")
def test_on_postgresql_not_even_raw_sql_rewrites_the_trail(trail) -> None:  # type: ignore[no-untyped-def]
    from django.db import DatabaseError, transaction

    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditentry SET actor = 'x'")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditentry")
    assert AuditEntry.objects.filter(actor="x").count() == 0
