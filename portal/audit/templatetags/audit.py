"""``{% audit_trail_of object %}``: an object's audit entries on its admin
history page, each change before → after."""

from __future__ import annotations

from typing import Any

from django import template

from portal.audit.selectors import can_read_audit, entries_about

register = template.Library()

#: The newest entries shown on an object's page; /audit/ has them all.
SHOWN = 100


@register.inclusion_tag("admin/audit_trail.html", takes_context=True)
def audit_trail_of(context: dict[str, Any], obj: object) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    reader = user is not None and can_read_audit(user)
    meta = obj._meta  # type: ignore[attr-defined]
    return {
        "entries": list(entries_about(obj)[:SHOWN]),
        "shown": SHOWN,
        # Client addresses are for those who read the whole trail.
        "show_address": reader,
        "trail_url": f"/audit/?object_type={meta.label_lower}&object_id={obj.pk}" if reader else "",  # type: ignore[attr-defined]
    }
