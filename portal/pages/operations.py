"""Pages for machines and browsers rather than people: the favicon and
the liveness and readiness checks."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.health import dependency_checks, down


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Pages that name no icon (the admin's) make browsers ask for this one.
    Resolved per request: with hashed static names the URL is known only once
    collectstatic has run."""
    return redirect(static("img/squadron.svg"), permanent=True)


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: 200 whenever this process answers. The body still reports
    the database and broker checks for operators, but a broker outage must
    not get a web process restarted or taken out of service: orders placed
    meanwhile wait for the sweep (``portal.celery.send_or_leave_for_sweep``).
    Readiness, which does answer by the checks, is ``readyz``."""
    checks = dependency_checks()
    return JsonResponse({"status": "ok", "checks": checks})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when the database and the broker answer, else 503
    naming what is down (``{"down": ["broker"], ...}``)."""
    checks = dependency_checks()
    failed = down(checks)
    return JsonResponse(
        {"status": "unavailable" if failed else "ok", "down": failed, "checks": checks},
        status=503 if failed else 200,
    )
