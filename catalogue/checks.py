"""What the catalogue checks before a product goes out: whether it can run at
all (problems, which refuse publishing) and whether its form fits its
playbook (warnings, which a curator confirms).

The fit between a form and a playbook is the same comparison the debt panel
scores (``portal.insights.debt``): fields the playbook never reads, and
variables it reads without a default that no field provides. It is made
here, below the portal, so the admin, the importer and the debt panel ask
the one function.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from catalogue.choices import ApprovalPolicy, Fulfilment
from catalogue.models import Product
from catalogue.schema import form_schema_problems
from runbooks.analysis import analyse_playbook


@dataclass(frozen=True)
class FormFit:
    """How a form and a playbook fit together.

    ``analysed`` is false when the playbook could not be read (``error``
    says why): then nothing is known of the fit, and nothing is claimed."""

    analysed: bool = True
    error: str = ""
    #: Fields of the form that the playbook never reads.
    unused: list[str] = field(default_factory=list)
    #: Variables the playbook reads without a default that no field provides.
    #: Empty when the playbook can get variables from where the analysis
    #: cannot see (roles, vars files), since a "missing" one may not be.
    missing: list[str] = field(default_factory=list)

    def warnings(self, product_name: str) -> list[str]:
        if not self.analysed:
            return [
                f"The playbook could not be analysed ({self.error}), so the form is not checked against it."
            ]
        messages = []
        if self.unused:
            messages.append(
                f"{product_name} asks for {', '.join(self.unused)}, which the playbook never reads."
            )
        if self.missing:
            messages.append(
                f"The playbook reads {', '.join(self.missing)} without a default, "
                f"and no field of {product_name}'s form provides it."
            )
        return messages


def form_fields(schema: object) -> set[str]:
    """The names of a form's fields; nothing for a schema of another shape
    (the admin and the importer refuse those, but a row is only data)."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    return {name for name in properties if isinstance(name, str)} if isinstance(properties, dict) else set()


def form_fit(schema: object, playbook: str) -> FormFit:
    """Compare the fields of ``schema`` with what ``playbook`` reads."""
    features = analyse_playbook(playbook)
    if not features.valid:
        return FormFit(analysed=False, error=features.error)
    fields = form_fields(schema)
    missing = [] if features.external_variables else sorted(features.required_inputs - fields)
    return FormFit(unused=sorted(fields - features.inputs), missing=missing)


def product_run_problems(product: Product) -> list[str]:
    """Why ``product`` could not run any order, as it is saved: an automated
    product without a playbook, a form whose fields cannot reach one, a
    multi-step approval without steps. Publishing refuses such a product."""
    problems = []
    if product.fulfilment == Fulfilment.AUTOMATED:
        if product.runbook_id is None:
            problems.append("A published automated product needs a runbook.")
        elif product.runbook is not None and product.runbook.current_version_id is None:
            problems.append(f"Its runbook {product.runbook.name} has no playbook yet.")
    problems.extend(f"Its order form: {problem}" for problem in form_schema_problems(product.form_schema))
    if product.approval_policy == ApprovalPolicy.STEPS and not product.approval_steps.exists():
        problems.append("Its approval is multi-step but it has no steps.")
    return problems


def product_warnings(product: Product) -> list[str]:
    """What a curator should know before publishing ``product`` but may
    decide to accept: its form does not fit its playbook."""
    if product.fulfilment != Fulfilment.AUTOMATED or product.runbook is None:
        return []
    version = product.runbook.current_version
    if version is None:
        return []
    return form_fit(product.form_schema, version.content).warnings(product.name)
