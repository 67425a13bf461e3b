from django.http import HttpRequest

from squads.selectors import is_any_squad_member


def navigation(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    return {"is_squad_member": bool(user and is_any_squad_member(user))}
