"""The OpenAPI schema generates without warnings and is served with its docs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_schema_generates_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--fail-on-warn", "--validate", "--file", str(target)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr and "Error" not in result.stderr
    schema = yaml.safe_load(target.read_text())
    paths = set(schema["paths"])
    for expected in [
        "/api/v1/products/",
        "/api/v1/products/{slug}/",
        "/api/v1/orders/",
        "/api/v1/orders/{id}/",
        "/api/v1/orders/{id}/events/",
        "/api/v1/orders/{id}/cancel/",
        "/api/v1/orders/{id}/retry/",
        "/api/v1/orders/{id}/approve/",
        "/api/v1/orders/{id}/reject/",
        "/api/v1/orders/{id}/claim/",
        "/api/v1/orders/{id}/complete/",
        "/api/v1/orders/{id}/fail/",
        "/api/v1/squads/",
        "/api/v1/runbooks/",
    ]:
        assert expected in paths
    assert schema["components"]["securitySchemes"]["tokenAuth"]["name"] == "Authorization"
    # Handing an instance over: each command with its summary, the transfer it answers,
    # and the pending offer on the instance's JSON.
    for command in ("", "accept/", "decline/", "withdraw/"):
        operation = schema["paths"][f"/api/v1/instances/{{id}}/transfer/{command}"]["post"]
        assert operation["summary"], command
        success = operation["responses"]["201" if not command else "200"]
        assert success["content"]["application/json"]["schema"]["$ref"].endswith("/Transfer")
    transfer = schema["components"]["schemas"]["Transfer"]["properties"]
    assert set(transfer) >= {"from", "to", "state", "decided_at"}
    pending = schema["components"]["schemas"]["Instance"]["properties"]["pending_transfer"]
    assert pending.get("nullable") or "oneOf" in pending or "allOf" in pending

    # The bounds the API enforces are stated, so a client learns them without a refusal.
    def parameter(path: str, name: str) -> dict:
        return next(p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == name)

    assert parameter("/api/v1/orders/{id}/events/", "attempt")["schema"]["minimum"] == 1
    assert parameter("/api/v1/orders/{id}/events/", "after")["schema"]["minimum"] == 0
    assert parameter("/api/v1/products/{slug}/metrics/", "days")["schema"]["maximum"] == 3 * 366
    assert "1900 and 9000" in parameter("/api/v1/orders/", "updated_after")["description"]
    assert "411" in schema["paths"]["/api/v1/orders/{id}/cancel/"]["post"]["responses"]


@pytest.mark.django_db
def test_schema_and_docs_are_served_without_a_cdn(client, requester):
    client.force_login(requester)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert schema.json()["info"]["title"] == "Squadron API"
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html and "//cdn" not in html and "unpkg" not in html
    assert "<script>" not in html.replace(" ", ""), "the docs page must not need inline scripts"


def test_every_operation_has_a_summary_and_a_description_of_its_own():
    """What generated clients and the docs show: a summary each, and a
    description that is the endpoint's, never a base class's docstring
    (which says how the code is built) nor a comment for maintainers."""
    import inspect

    from drf_spectacular.generators import SchemaGenerator

    generator = SchemaGenerator()
    schema = generator.get_schema(request=None, public=True)
    inherited = {
        inspect.cleandoc(base.__doc__)
        for _path, _regex, _method, view in generator.endpoints
        for base in view.cls.__mro__[1:]
        if base.__doc__
    }
    operations = [
        (f"{method.upper()} {path}", operation)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    ]
    assert len(operations) > 30
    for name, operation in operations:
        assert operation.get("summary"), f"{name} has no summary"
        description = operation.get("description", "")
        assert description, f"{name} has no description"
        assert description not in inherited, f"{name} describes itself with a base class's docstring"
        assert "cache" not in description.lower(), f"{name} shows an internal comment"
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path" and parameter["name"] == "id":
                assert parameter["schema"] == {"type": "integer"}, name
    assert schema["servers"] == [{"url": "/", "description": "This Squadron"}]
    current_version = schema["components"]["schemas"]["Runbook"]["properties"]["current_version"]
    # OpenAPI 3.1 (JSON Schema) says null is allowed with a type of its own, not `nullable`.
    assert {"type": "null"} in current_version["oneOf"]


@pytest.mark.django_db
def test_the_served_schema_names_the_server_it_came_from(client, requester):
    client.force_login(requester)
    schema = yaml.safe_load(client.get("/api/schema/").content)
    assert schema["servers"] == [{"url": "http://testserver", "description": "This Squadron"}]
