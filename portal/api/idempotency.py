"""The ``Idempotency-Key`` of the requests that place an order (placing
one, ordering an instance's operation): the same key and body answer the
first order instead of placing another. One helper, so both requests read
the key, refuse a bad one and answer a repetition alike."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.models import User
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from portal.api.errors import Unprocessable
from portal.orders.models import Order
from portal.orders.submission import IdempotencyKeyReused, fingerprint, key_problem, order_submit_once

IDEMPOTENCY_HEADER = "Idempotency-Key"


def idempotency_parameter(description: str) -> OpenApiParameter:
    """The header as the OpenAPI document describes it for one request."""
    return OpenApiParameter(
        IDEMPOTENCY_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, description=description
    )


def placement_response(
    request: Request,
    *,
    requester: User,
    meaning: object,
    submit: Callable[[], Order],
    render: Callable[[Order], dict],
) -> Response:
    """Place the order with ``submit`` and answer 201 with ``render(order)``
    and its ``Location``. Under an ``Idempotency-Key``, a repetition with the
    same ``meaning`` (the validated body) answers 200 with the first body
    (``Idempotent-Replayed: true``); one with another meaning is a 422, a
    malformed key a 400, and neither places anything."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        body, status, replayed = render(submit()), 201, False
    else:
        problem = key_problem(key)
        if problem:
            raise exceptions.ValidationError({IDEMPOTENCY_HEADER: [problem]}, code="invalid_key")
        try:
            answer = order_submit_once(
                requester=requester,
                key=key,
                request_hash=fingerprint(meaning),
                submit=submit,
                render=render,
            )
        except IdempotencyKeyReused as error:
            raise Unprocessable(str(error), code="idempotency_key_reused") from None
        body, status, replayed = answer.body, answer.status, answer.replayed
    headers = {"Location": body["url"]}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(body, status=status, headers=headers)
