"""The admin form designer's live preview: a draft form schema rendered by
the order form customers see (``OrderForm`` and its field template), with
what the designer shows beside it (JSON errors with their line and column,
schema problems by field, warnings against the runbook's playbook).

Nothing is saved: the curator posts the draft as they edit it. Served under
the admin site (``portal.admin_site``), so only curators reach it.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST

from catalogue.designer import draft_report
from portal.pages.forms import OrderForm, schema_initial
from runbooks.models import Runbook
from squads.selectors import squad_ids_of


def _playbook(request: HttpRequest) -> str | None:
    """The current playbook of the runbook the product names, if the curator
    may see it (their squads' runbooks): the warnings quote its variables."""
    runbook_id = request.POST.get("runbook", "")
    if not runbook_id.isdigit():
        return None
    runbooks = Runbook.objects.filter(pk=int(runbook_id)).select_related("current_version")
    if not request.user.is_superuser:
        runbooks = runbooks.filter(squad_id__in=squad_ids_of(request.user))
    runbook = runbooks.first()
    if runbook is None or runbook.current_version is None:
        return None
    return runbook.current_version.content


@require_POST
def form_preview(request: HttpRequest) -> JsonResponse:
    playbook = _playbook(request)
    report = draft_report(
        request.POST.get("schema", ""),
        product_name=request.POST.get("name", "").strip()[:200] or "This product",
        playbook=playbook,
    )
    preview = ""
    if report.usable and report.schema is not None:
        form = OrderForm(report.schema, initial=schema_initial(report.schema))
        preview = render_to_string("portal/partials/form_preview.html", {"form": form}, request=request)
    return JsonResponse(
        {**report.as_dict(), "usable": report.usable, "checked": playbook is not None, "preview": preview}
    )
