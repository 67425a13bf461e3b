"""One error shape for the whole API, and the domain errors mapped to HTTP.

Every error answers ``{"detail": "...", "code": "..."}``; a request that fails
validation adds ``"errors"``, which maps each field to its messages (nested
for the order's ``inputs``), so a client can show them next to its fields.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from portal.consumption.errors import BusinessUnitChoiceError, QuotaExceeded
from portal.instances.errors import (
    InstanceBusy,
    InstanceNotFound,
    InstanceNotOperable,
    InvalidTransfer,
    TransferConflict,
    UnknownOperation,
)
from portal.orders.errors import (
    IllegalTransition,
    InvalidInputs,
    OrderError,
    OrderNotAllowed,
    ProductNotOrderable,
    StaleDecision,
)
from portal.orders.errors import StaleState as StaleOrderState


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class LengthRequired(exceptions.APIException):
    status_code = status.HTTP_411_LENGTH_REQUIRED
    default_detail = "Send the body with a Content-Length header: a chunked body is not read."
    default_code = "length_required"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class StaleStep(Conflict):
    """A decision on an approval step that is no longer the open one."""

    default_code = "stale_step"

    def __init__(self, detail: str, *, current_step: int | None) -> None:
        super().__init__(detail, code=self.default_code)
        self.current_step = current_step


class StaleState(Conflict):
    """A command on an order that has moved since the client read it."""

    default_code = "stale_state"

    def __init__(self, detail: str, *, status: str, claimant: str | None) -> None:
        super().__init__(detail, code=self.default_code)
        self.status = status
        self.claimant = claimant


class Unprocessable(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request cannot be processed."
    default_code = "unprocessable"


def domain_error_as_api_error(error: OrderError) -> exceptions.APIException:
    """The HTTP meaning of a refused order change (an operation on an
    instance is an order too)."""
    if isinstance(error, InstanceNotFound):
        return exceptions.NotFound(str(error), code="not_found")
    if isinstance(error, InstanceBusy):
        return Conflict(str(error), code="instance_busy")
    if isinstance(error, InstanceNotOperable):
        return Conflict(str(error), code="instance_not_operable")
    if isinstance(error, TransferConflict):
        return Conflict(str(error), code=error.code)
    if isinstance(error, InvalidTransfer):
        return exceptions.ValidationError({error.field: [str(error)]}, code="invalid_transfer")
    if isinstance(error, UnknownOperation):
        return exceptions.ValidationError({"operation": [str(error)]}, code="unknown_operation")
    if isinstance(error, BusinessUnitChoiceError):
        return exceptions.ValidationError({"business_unit": [str(error)]}, code="business_unit")
    if isinstance(error, QuotaExceeded):
        return exceptions.ValidationError({"non_field_errors": [str(error)]}, code="quota_exceeded")
    if isinstance(error, InvalidInputs):
        return exceptions.ValidationError({"inputs": error.errors}, code="invalid_inputs")
    if isinstance(error, ProductNotOrderable):
        return exceptions.ValidationError({"product": [str(error)]}, code="not_orderable")
    if isinstance(error, OrderNotAllowed):
        return exceptions.PermissionDenied(str(error), code="not_allowed")
    if isinstance(error, StaleDecision):
        return StaleStep(str(error), current_step=error.current_step)
    if isinstance(error, StaleOrderState):
        return StaleState(str(error), status=error.status, claimant=error.claimant)
    if isinstance(error, IllegalTransition):
        return Conflict(str(error), code="illegal_transition")
    return exceptions.ValidationError({"non_field_errors": [str(error)]}, code="refused")


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, OrderError):
        exc = domain_error_as_api_error(exc)
    elif isinstance(exc, Http404):
        # Django's own text names the model ("No WebhookSubscription matches
        # the given query."): each view says it in the API's words instead.
        exc = exceptions.NotFound(getattr(context.get("view"), "not_found_detail", None))
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) if str(exc) else None)
    elif isinstance(exc, RequestDataTooBig):
        # DRF 3.18 reads a JSON body through request.body, where Django itself
        # enforces DATA_UPLOAD_MAX_MEMORY_SIZE before our parser sees a byte.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        exc = PayloadTooLarge(f"The request body is larger than {limit} bytes.")
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: let Django log it and answer 500
    if isinstance(exc, exceptions.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = {
            "detail": _summary(errors),
            "code": _first_code(exc.get_codes()) or "invalid",
            "errors": errors,
        }
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail
        code = exc.get_codes()
        response.data = {
            "detail": str(detail) if not isinstance(detail, dict | list) else _summary(detail),
            "code": code if isinstance(code, str) else exc.default_code,
        }
        if isinstance(exc, StaleStep):
            response.data["current_step"] = exc.current_step
        if isinstance(exc, StaleState):
            response.data["status"] = exc.status
            response.data["claimed_by"] = exc.claimant
    return response


def _summary(errors: object) -> str:
    """A one-line summary naming the fields at fault."""
    if isinstance(errors, dict):
        fields = [str(name) for name in errors if name != "non_field_errors"]
        if fields:
            return "Invalid " + ", ".join(fields) + "."
        return _first_message(errors.get("non_field_errors")) or "Invalid request."
    return _first_message(errors) or "Invalid request."


def _first_message(value: object) -> str | None:
    if isinstance(value, list) and value:
        return _first_message(value[0])
    if isinstance(value, dict) and value:
        return _first_message(next(iter(value.values())))
    return str(value) if value not in (None, "", [], {}) else None


def _first_code(codes: object) -> str | None:
    if isinstance(codes, str):
        return codes
    if isinstance(codes, list):
        for item in codes:
            found = _first_code(item)
            if found:
                return found
    if isinstance(codes, dict):
        for item in codes.values():
            found = _first_code(item)
            if found:
                return found
    return None
