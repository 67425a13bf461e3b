"""What a browser sends to and reads from Django's admin, for the admin tests
of every app (catalogue, runbooks, squads, portal): URLs, change forms as they
are posted, the messages and errors shown, and how a refusal looks."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

from django.contrib.messages import get_messages
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from catalogue.models import Product
from runbooks.models import Credential, Runbook

ROLES = ("member", "other_member", "outsider", "admin_user", "anonymous")
#: Roles that may curate what the owning squad ("network") owns.
CURATORS = {"member", "admin_user"}
LOGIN_URL = "/admin/login/"


def snapshot(obj: Model) -> dict[str, Any]:
    """Every stored column of ``obj`` (including ``updated_at``, so even a
    save that changes nothing visible shows) and its many-to-many ids."""
    fresh = type(obj)._default_manager.get(pk=obj.pk)
    values: dict[str, Any] = {
        field.attname: getattr(fresh, field.attname) for field in fresh._meta.concrete_fields
    }
    for field in fresh._meta.many_to_many:
        values[field.name] = sorted(getattr(fresh, field.name).values_list("pk", flat=True))
    return values


def runbook_data(runbook: Runbook, **changes: Any) -> dict[str, Any]:
    """The admin change form of ``runbook`` (with the versions inline's empty
    management form, as the inline is read-only)."""
    data: dict[str, Any] = {
        "name": runbook.name,
        "slug": runbook.slug,
        "squad": runbook.squad_id,
        "description": runbook.description,
        "timeout": runbook.timeout,
        "queue": runbook.queue,
        "network": runbook.network,
        "credentials": [credential.pk for credential in runbook.credentials.all()],
        "playbook": runbook.playbook,
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
        "versions-MIN_NUM_FORMS": "0",
        "versions-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    data.update(changes)
    return data


def assert_sent_to_login(response: Any) -> None:
    assert response.status_code == 302
    assert response.url.startswith(LOGIN_URL)


def assert_refused(response: Any, role: str) -> None:
    """How Django's admin refuses: anonymous and squadless users go to the
    login page; a member of another squad is told the object does not exist
    (it is outside their queryset), which reveals nothing about it."""
    if role in ("anonymous", "outsider"):
        assert_sent_to_login(response)
    else:
        assert response.status_code == 302
        assert response.url == reverse("admin:index")


def changelist_objects(response: Any) -> list[Model]:
    return list(response.context["cl"].result_list)


def admin_url(model: type[Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def product_data(product: Product, **changes: Any) -> dict[str, Any]:
    """The admin change form of ``product`` as a browser would post it."""
    data: dict[str, Any] = {
        "name": product.name,
        "slug": product.slug,
        "squad": product.squad_id,
        "category": product.category_id,
        "summary": product.summary,
        "description": product.description,
        "tags": product.tags,
        "fulfilment": product.fulfilment,
        "runbook": product.runbook_id or "",
        "approval_policy": product.approval_policy,
        "approval_remind_after_hours": 24,
        "approval_escalate_after_hours": 72,
        "approval_steps-TOTAL_FORMS": "0",
        "approval_steps-INITIAL_FORMS": "0",
        "operations-TOTAL_FORMS": "0",
        "operations-INITIAL_FORMS": "0",
        "sla_minutes": product.sla_minutes,
        "unit_cost": product.unit_cost if product.unit_cost is not None else "",
        "form_schema": json.dumps(product.form_schema, indent=2),
        "depends_on": [dependency.pk for dependency in product.depends_on.all()],
        "_save": "Save",
    }
    data.update(changes)
    return data


def credential_data(credential: Credential, **changes: Any) -> dict[str, Any]:
    """The change form of a stored credential, secret fields left blank."""
    data: dict[str, Any] = {
        "name": credential.name,
        "slug": credential.slug,
        "squad": credential.squad_id,
        "username": credential.username,
    }
    data.update(changes)
    return data


class _FormFields(HTMLParser):
    """Collects what a browser would submit from the admin's change form."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._in_form = False
        self._textarea: str | None = None
        self._select: str | None = None

    def _add(self, name: str, value: str) -> None:
        self.data.setdefault(name, []).append(value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {key: value or "" for key, value in attrs}
        if tag == "form" and attributes.get("id", "").endswith("_form"):
            self._in_form = True
        if not self._in_form or ("name" not in attributes and tag != "option"):
            return
        if tag == "input" and attributes.get("type") not in ("submit", "button", "file"):
            if attributes.get("type") not in ("checkbox", "radio") or "checked" in attributes:
                self._add(attributes["name"], attributes.get("value", ""))
        elif tag == "textarea":
            self._textarea = attributes["name"]
            self._add(self._textarea, "")
        elif tag == "select":
            self._select = attributes["name"]
        elif tag == "option" and self._select and "selected" in attributes:
            self._add(self._select, attributes.get("value", ""))

    def handle_data(self, data: str) -> None:
        if self._textarea:
            # Like a browser: the newline right after <textarea> is not content.
            current = self.data[self._textarea][-1] + data
            self.data[self._textarea][-1] = current.removeprefix("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None
        elif tag == "form":
            self._in_form = False


def submitted_as_rendered(client: Client, url: str) -> dict[str, list[str]]:
    """The change form at ``url`` as a browser would submit it untouched."""
    parser = _FormFields()
    parser.feed(client.get(url).content.decode())
    return {**parser.data, "_save": ["Save"]}


def field_errors(response: Any, field: str) -> str:
    """The error messages the admin form shows on ``field``, as plain text."""
    return " ".join(response.context["adminform"].form.errors.get(field, []))


def shown_messages(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def run_action(client: Client, action: str, *products: Product, **extra: str) -> Any:
    """Run an admin action on ``products``; ``extra`` is posted too (say,
    ``confirmed="yes"``, as the publish confirmation page sends it)."""
    return client.post(
        admin_url(Product, "changelist"),
        {"action": action, "_selected_action": [product.pk for product in products], "index": "0", **extra},
    )
