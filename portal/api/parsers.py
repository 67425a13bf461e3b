"""JSON bodies, bounded in size and depth.

Django enforces ``DATA_UPLOAD_MAX_MEMORY_SIZE`` only on ``request.body``;
DRF's parser reads the stream directly, so the limit is applied here,
whatever ``Content-Length`` claims (a chunked body has none).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework import exceptions
from rest_framework.parsers import JSONParser

from portal.api.errors import PayloadTooLarge
from runbooks.extravars import contains_surrogate

#: Deeper JSON than this is refused: no order form nests, and every later step
#: (validation, hashing, storage) would otherwise walk it recursively.
MAX_DEPTH = 32


def _check_values(value: object) -> None:
    """Refuse NUL characters (PostgreSQL cannot store them in text or JSON, so
    say so up front instead of failing in the database), lone UTF-16
    surrogates (``"\\ud800"`` is valid JSON but not text: no answer showing
    it could be encoded) and deep nesting."""
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise exceptions.ParseError("Text in the body may not contain NUL (\\u0000) characters.")
            if contains_surrogate(item):
                raise exceptions.ParseError(
                    "Text in the body may not contain lone UTF-16 surrogates (\\ud800 to \\udfff): "
                    "they are not characters."
                )
            continue
        if depth > MAX_DEPTH:
            raise exceptions.ParseError(f"The JSON in the body is nested deeper than {MAX_DEPTH} levels.")
        if isinstance(item, dict):
            pending.extend((key, depth) for key in item)
            pending.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            pending.extend((child, depth + 1) for child in item)


class LimitedJSONParser(JSONParser):
    def parse(
        self, stream: IO[bytes] | None, media_type: str | None = None, parser_context: Mapping | None = None
    ) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if stream is None:
            raise exceptions.ParseError("The request body is empty; send a JSON object.")
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        charset = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = raw.decode(charset)
            data = json.loads(text, parse_constant=_refuse_constant)
        except UnicodeDecodeError:
            raise exceptions.ParseError(f"The request body is not valid {charset} text.") from None
        except RecursionError:
            raise exceptions.ParseError("The JSON in the body is nested too deeply.") from None
        except ValueError as error:
            raise exceptions.ParseError(f"The request body is not valid JSON: {error}") from None
        _check_values(data)
        return data


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON value")
