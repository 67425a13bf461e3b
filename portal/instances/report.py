"""What a runbook reports about the instance it made or changed.

A playbook reports with Ansible's ``set_stats`` under the key ``squadron``::

    - ansible.builtin.set_stats:
        data:
          squadron:
            instance:
              name: orders-db
              attributes: {size_gb: 20, host: db1.example.com, admin_password: "..."}
              secret_attributes: [admin_password]   # optional
              links: [{title: Console, url: "https://console.example.com/orders-db"}]
              depends_on: [42]                      # optional: ids of instances it needs

The executor keeps that data encrypted on the run (``Run.reported_ciphertext``);
``read_report`` turns it into what the instance may take, and the reasons
for everything it had to leave out (shown in the run's log): a report is a
playbook's word, as hostile as the playbook. An attribute set to ``null``
is removed from the instance.

Secrets: the attributes named ``x-secret`` in the product's or one of its
operations' forms, or listed in ``secret_attributes``, are stored encrypted
and shown masked, like secret inputs. Any other attribute whose value holds
a secret the order knows (a secret input, a secret attribute) is left out:
it would be shown in clear.

Dependencies: ``depends_on`` lists the ids of the instances this one needs
(its database…); here only their shape is checked, which of them exist and
may be named is decided where they are recorded
(``portal.instances.dependencies``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runbooks.execution.masking import Masker
from runbooks.reported import read_links
from runbooks.services import REPORT_MAX_BYTES, Reported

#: An attribute's name: a variable name (it defaults the form field of the
#: same name and reaches playbooks in ``squadron_instance``).
ATTRIBUTE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_ATTRIBUTES = 100
MAX_ATTRIBUTE_BYTES = 8 * 1024
MAX_NAME_LENGTH = 200
MAX_DEPENDENCIES = 50
#: The keys of ``squadron.instance``; any other is ignored, and said so.
KNOWN_KEYS = frozenset({"name", "attributes", "secret_attributes", "links", "depends_on"})
#: An instance id as a report may give it: a number, or its digits as text
#: (what a Jinja template gives on Ansible versions that render to text).
INSTANCE_ID = re.compile(r"[0-9]{1,18}")


@dataclass
class Report:
    """What may be taken from a report: ``name`` (or ""), ``attributes``
    (clear values; None removes one), the names among them that are secret,
    ``links`` and ``depends_on`` (instance ids; None for either: the report
    said nothing of them) and ``ignored``, a sentence for each thing left
    out."""

    name: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    secret_names: set[str] = field(default_factory=set)
    links: list[dict[str, str]] | None = None
    depends_on: list[int] | None = None
    ignored: list[str] = field(default_factory=list)
    reported: bool = False

    def summary(self) -> str:
        """One line for the run's log saying what the instance took."""
        parts = []
        if self.name:
            parts.append(f"name {self.name!r}")
        if self.attributes:
            parts.append(f"{len(self.attributes)} attribute(s) ({', '.join(sorted(self.attributes))})")
        if self.links is not None:
            parts.append(f"{len(self.links)} link(s)")
        if self.depends_on:
            ids = ", ".join(f"#{pk}" for pk in self.depends_on)
            parts.append(f"depends on {len(self.depends_on)} instance(s) ({ids})")
        elif self.depends_on is not None:
            parts.append("depends on no instance")
        return "Squadron recorded on the instance: " + (", ".join(parts) or "nothing") + "."


def read_report(reported: Reported, *, secret_names: Iterable[str], known_secrets: Iterable[str]) -> Report:
    """The part of a run's ``set_stats`` data that an instance may take.
    ``known_secrets`` are secret values the run did not know (the
    instance's secret attributes); where the run's own secrets sit, the
    masked copy of the data shows."""
    report = Report()
    size, data = reported.size, reported.data
    if size and data is None:
        report.ignored.append(
            f"The set_stats data ({size:,} bytes) is larger than {REPORT_MAX_BYTES:,} bytes; "
            "all of it was ignored."
        )
        return report
    if not isinstance(data, Mapping) or "squadron" not in data:
        return report
    squadron = data["squadron"]
    if isinstance(squadron, Mapping) and "instance" not in squadron:
        # Nothing for the instance (an order's ``result`` alone, say).
        return report
    report.reported = True
    instance = squadron.get("instance") if isinstance(squadron, Mapping) else None
    if not isinstance(instance, Mapping):
        report.ignored.append(
            'set_stats "squadron" must be a mapping with an "instance" mapping; it was ignored.'
        )
        return report
    declared = set(secret_names) | _declared_secrets(instance.get("secret_attributes"), report)
    _read_name(instance.get("name"), report)
    masked = _path(reported.masked, "squadron", "instance", "attributes")
    _read_attributes(instance.get("attributes"), masked, declared, Masker(known_secrets), report)
    if "links" in instance:
        report.links = read_links(instance.get("links"), report.ignored)
    if "depends_on" in instance:
        report.depends_on = _read_depends_on(instance.get("depends_on"), report)
    unknown = sorted(str(key) for key in instance if key not in KNOWN_KEYS)
    if unknown:
        report.ignored.append(f"Unknown key(s) of squadron.instance ignored: {', '.join(unknown)}.")
    return report


def _declared_secrets(value: object, report: Report) -> set[str]:
    if value is None:
        return set()
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        report.ignored.append("secret_attributes must be a list of attribute names; it was ignored.")
        return set()
    return set(value)


def _read_name(value: object, report: Report) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_NAME_LENGTH:
        report.ignored.append(
            f"The instance name must be text of 1 to {MAX_NAME_LENGTH} characters; it was ignored."
        )
        return
    report.name = value.strip()


def _path(value: object, *keys: str) -> Mapping:
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def _read_attributes(
    value: object, masked: Mapping, declared: set[str], masker: Masker, report: Report
) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        report.ignored.append("The attributes must be a mapping; they were ignored.")
        return
    for name, item in value.items():
        if len(report.attributes) >= MAX_ATTRIBUTES:
            report.ignored.append(f"More than {MAX_ATTRIBUTES} attributes: the rest were ignored.")
            return
        if not isinstance(name, str) or not ATTRIBUTE_NAME.match(name):
            report.ignored.append(
                f"Attribute {str(name)[:64]!r} ignored: a name is a letter or _ "
                "then up to 63 letters, digits or _."
            )
            continue
        size = len(json.dumps(item, ensure_ascii=False, default=str).encode())
        if size > MAX_ATTRIBUTE_BYTES:
            report.ignored.append(
                f"Attribute {name!r} ignored: {size:,} bytes is more than {MAX_ATTRIBUTE_BYTES:,}."
            )
            continue
        if name in declared:
            report.secret_names.add(name)
        elif item is not None and (masked.get(name) != item or (masker and masker.data(item) != item)):
            report.ignored.append(
                f"Attribute {name!r} ignored: it holds a secret value; list it in secret_attributes "
                "(or mark its form field x-secret) to store it encrypted."
            )
            continue
        report.attributes[name] = item


def _read_depends_on(value: object, report: Report) -> list[int] | None:
    """The instance ids listed, each once, in their order."""
    if not isinstance(value, list):
        report.ignored.append("depends_on must be a list of instance ids; it was ignored.")
        return None
    ids: list[int] = []
    for item in value:
        if len(ids) >= MAX_DEPENDENCIES:
            report.ignored.append(f"More than {MAX_DEPENDENCIES} dependencies: the rest were ignored.")
            break
        text = str(item).strip() if isinstance(item, int | str) and not isinstance(item, bool) else ""
        if not INSTANCE_ID.fullmatch(text) or int(text) == 0:
            report.ignored.append(f"Dependency {str(item)[:64]!r} ignored: an instance id is a whole number.")
            continue
        if int(text) not in ids:
            ids.append(int(text))
    return ids
