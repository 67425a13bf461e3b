"""OpenAPI generation: the error answers every operation may give."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import Direction, OpenApiResponse

from portal.api.base_serializers import ErrorSerializer, StrictSerializer

ERRORS = {
    "400": "Invalid request: malformed JSON, a bad field or query parameter (see `errors`).",
    "401": "No credentials, or a token that is invalid, expired or revoked.",
    "403": "Authenticated, but not allowed to do this.",
    "404": "No such object, or not one you may see; or an invalid page or cursor.",
    "406": "The `Accept` header names no type the API can answer with.",
    "415": "The body is not JSON.",
    "429": "Too many requests for this token or user; retry after `Retry-After` seconds.",
}
WRITE_ERRORS = {
    "409": "The order's status does not allow this (any more).",
    "411": "The body came chunked, without `Content-Length`: send its length.",
    "413": "The request body is too large.",
    "422": "The `Idempotency-Key` was used before with a different body.",
}


class ApiSchema(AutoSchema):
    def _get_response_bodies(self, direction: Direction = "response") -> dict:
        responses = super()._get_response_bodies(direction)
        errors = dict(ERRORS)
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            errors.update(WRITE_ERRORS)
        for code, description in errors.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=description), code, direction=direction
                )
        return responses

    def _map_serializer(
        self, serializer: Any, direction: Direction, bypass_extensions: bool = False
    ) -> dict[str, Any]:
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        if isinstance(serializer, StrictSerializer) and schema.get("type") == "object":
            schema["additionalProperties"] = False  # what StrictSerializer enforces
        return schema


#: Bounds the API enforces on query parameters, stated in the schema so a
#: client (or a fuzzer) knows them without a refusal: name -> JSON Schema.
PARAMETER_BOUNDS = {
    "attempt": {"minimum": 1, "maximum": 2**31 - 1},
    "after": {"minimum": 0, "maximum": 2**31 - 1},
    "page_size": {"minimum": 1},
}


def state_parameter_bounds(result: dict, generator: object, request: object, public: bool) -> dict:
    """drf-spectacular postprocessing hook: ``PARAMETER_BOUNDS``, the period's
    ``days``, and the calendar every date-time filter accepts."""
    from portal.insights.periods import MAX_DAYS

    bounds = {**PARAMETER_BOUNDS, "days": {"minimum": 1, "maximum": MAX_DAYS}}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                schema = parameter.get("schema", {})
                schema.update(bounds.get(parameter["name"], {}))
                if schema.get("format") == "date-time" and "1900" not in parameter.get("description", ""):
                    parameter["description"] = (
                        parameter.get("description", "") + " Between years 1900 and 9000."
                    ).strip()
    return result
