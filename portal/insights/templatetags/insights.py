"""Template helpers of the insights: the navigation links, a product's
dependency warnings and expected lead time, and number formatting."""

from __future__ import annotations

from typing import Any

from django import template

from portal.insights import access
from portal.insights.breakdowns import expected_lead_time
from portal.insights.dependencies import dependency_alerts
from portal.insights.tables import duration_text, percent_text

register = template.Library()


@register.filter
def percent(value: float | None) -> str:
    return percent_text(value)


@register.filter
def duration(seconds: float | None) -> str:
    return duration_text(seconds)


@register.inclusion_tag("insights/_nav.html", takes_context=True)
def insights_nav(context: dict[str, Any]) -> dict[str, Any]:
    """Links to the dashboards for those who may open them (at most one
    query per request, cached on the user)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None:
        return {"show": False}
    lead, member = access.lead_or_member(user)
    here = getattr(getattr(request, "resolver_match", None), "url_name", "")
    # A business unit's members see the cost page only (asked last: no query for leads and members).
    show = lead or member or access.in_a_business_unit(user)
    return {"show": show, "lead": lead, "member": member, "here": here}


@register.inclusion_tag("insights/_dependency_alerts.html")
def product_dependency_alerts(product: Any) -> dict[str, Any]:
    """What is wrong upstream of a product, for its page (three queries)."""
    return {"alerts": dependency_alerts(product)}


@register.inclusion_tag("insights/_expected_lead_time.html")
def product_expected_lead_time(product: Any) -> dict[str, Any]:
    return {"lead_time": expected_lead_time(product), "product": product}
