from django.http import HttpRequest

from portal.notifications import unread_count
from squads.selectors import is_any_squad_member


def navigation(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    return {
        "is_squad_member": bool(user and is_any_squad_member(user)),
        # Lazy: pages that never show the count never pay its query.
        "unread_notifications": lambda: unread_count(user) if user is not None else 0,
    }
