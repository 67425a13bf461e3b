"""The metrics endpoints of the REST API: same numbers as the pages, same
permissions, clear errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from catalogue.choices import ProductStatus
from portal.integrations.tokens import token_create
from portal.orders.choices import OrderStatus
from tests.insights.conftest import make_order

SQUAD_URL = "/api/v1/squads/network/metrics/"
PRODUCT_URL = "/api/v1/products/vlan/metrics/"


def recent(**delta):
    return timezone.now() - timedelta(**delta)


@pytest.fixture
def history(automated, manual):
    # Noon two days ago, so the ten orders fall on one calendar day whatever
    # the time the test runs (just after midnight, some fell on the day before).
    noon = timezone.localtime(recent(days=2)).replace(hour=12, minute=0, second=0, microsecond=0)
    for index in range(10):
        make_order(
            automated,
            submitted=noon - timedelta(minutes=index),
            status=OrderStatus.SUCCEEDED if index < 7 else OrderStatus.FAILED,
            lead=timedelta(minutes=index + 1),
            failure_reason="" if index < 7 else "host unreachable",
        )
    return automated, manual


@pytest.mark.django_db
def test_a_member_reads_the_squad_metrics_with_the_dashboards_figures(client, member, history):
    client.force_login(member)

    response = client.get(SQUAD_URL)

    assert response.status_code == 200
    body = response.json()
    assert body["squad"] == "network"
    assert body["summary"]["orders"] == 10
    assert body["summary"]["success_rate"] == pytest.approx(0.7)
    assert body["summary"]["lead_time_seconds"]["median"] == 240.0
    assert body["summary"]["lead_time_seconds"]["p90"] == pytest.approx(384.0)
    assert [row["product"] for row in body["products"]] == ["vlan", "firewall-rule"]
    assert body["failure_reasons"][0] == {
        "reason": "host unreachable",
        "orders": 3,
        "products": 1,
        "last_seen": body["failure_reasons"][0]["last_seen"],
        "example": "host unreachable",
        "variants": 1,
    }
    assert {"load", "dependencies", "duplicates", "debt", "debt_register", "weekly"} <= body.keys()


@pytest.mark.django_db
def test_an_api_token_works_like_the_session(client, member, history):
    key = token_create(user=member, name="grafana").key

    response = client.get(SQUAD_URL, HTTP_AUTHORIZATION=f"Token {key}")

    assert response.status_code == 200
    assert client.get(SQUAD_URL, HTTP_AUTHORIZATION="Token sqd_wrong-key-123456").status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["outsider", "other_member"])
def test_anyone_outside_the_squad_gets_a_404(client, request, who, history):
    client.force_login(request.getfixturevalue(who))

    response = client.get(SQUAD_URL)

    assert response.status_code == 404
    assert response.json() == {"detail": "No such squad.", "code": "not_found"}


@pytest.mark.django_db
def test_signed_out_callers_are_told_to_authenticate(client, history):
    response = client.get(SQUAD_URL)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=yesterday", "since"),
        ("until=2026-13-01", "until"),
        ("since=2026-03-02&until=2026-03-01", "since"),
        ("days=1&since=2026-01-01", "days"),
    ],
)
def test_a_bad_period_is_a_400_naming_the_parameter(client, member, history, query, field):
    client.force_login(member)

    response = client.get(f"{SQUAD_URL}?{query}")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_period"
    assert field in body["errors"]


@pytest.mark.django_db
def test_the_period_narrows_the_figures(client, member, history):
    client.force_login(member)
    day = timezone.localdate(recent(days=2)).isoformat()

    body = client.get(f"{SQUAD_URL}?since={day}&until={day}").json()
    before = client.get(f"{SQUAD_URL}?since=2020-01-01&until=2020-01-31").json()

    assert body["summary"]["orders"] == 10
    assert body["period"]["since"].startswith(day)
    assert before["summary"]["orders"] == 0


@pytest.mark.django_db
def test_anyone_signed_in_reads_a_published_products_metrics_without_failure_reasons(
    client, requester, history
):
    client.force_login(requester)

    body = client.get(PRODUCT_URL).json()

    assert body["summary"]["succeeded"] == 7
    assert body["expected_lead_time"]["median_seconds"] == 240.0
    assert "failure_reasons" not in body


@pytest.mark.django_db
def test_the_owning_squad_also_sees_a_products_failure_reasons(client, member, history):
    client.force_login(member)

    body = client.get(PRODUCT_URL).json()

    assert body["failure_reasons"][0]["reason"] == "host unreachable"


@pytest.mark.django_db
def test_a_draft_products_metrics_are_a_404_outside_its_squad(client, requester, member, automated):
    automated.status = ProductStatus.DRAFT
    automated.save()

    client.force_login(requester)
    assert client.get(PRODUCT_URL).status_code == 404
    client.force_login(member)
    assert client.get(PRODUCT_URL).status_code == 200
    assert client.get("/api/v1/products/nothing-here/metrics/").status_code == 404


def strict(schema):
    """``schema`` where an object with ``properties`` allows no other key: an
    answer must not carry what the document does not describe."""
    if isinstance(schema, dict):
        tightened = {key: strict(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            tightened["additionalProperties"] = False
        return tightened
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


def answer_problems(document, path, body):
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    operation = document["paths"][path]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    tight = strict(document)
    registry = Registry().with_resource("urn:doc", Resource.from_contents(tight, DRAFT202012))
    validator = Draft202012Validator({"$ref": "urn:doc" + schema["$ref"]}, registry=registry)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]


@pytest.mark.django_db
def test_the_answers_follow_the_served_document(client, member, history):
    """The metrics are typed in the OpenAPI document (not a bare object):
    real answers, with failure reasons, load and weeks, match it key for key."""
    client.force_login(member)
    document = client.get("/api/schema/", {"format": "json"}).json()
    squad = client.get(SQUAD_URL).json()
    product = client.get(PRODUCT_URL).json()
    assert squad["failure_reasons"] and product["failure_reasons"] and squad["weekly"]

    assert answer_problems(document, "/api/v1/squads/{slug}/metrics/", squad) == []
    assert answer_problems(document, "/api/v1/products/{slug}/metrics/", product) == []
    drifted = {**squad, "summary": {**squad["summary"], "orders": "ten"}, "extra": 1}
    assert len(answer_problems(document, "/api/v1/squads/{slug}/metrics/", drifted)) == 2
