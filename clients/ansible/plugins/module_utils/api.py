# -*- coding: utf-8 -*-
# Copyright: Squadron maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the modules and the lookup of squadron.portal share: talking to the
portal's REST API with ansible's own ``open_url`` (no Python package to
install on the controller), giving the inputs the types the product's form
asks for, and the Idempotency-Key a task sends."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import math
import time
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode, urljoin, urlsplit

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.urls import open_url

TERMINAL_STATUSES = frozenset(["rejected", "succeeded", "failed", "timed_out", "cancelled"])
TRUE_WORDS = frozenset(["true", "yes", "on", "1", "y"])
FALSE_WORDS = frozenset(["false", "no", "off", "0", "n"])
KEY_PREFIX = "squadron.portal-"


def connection_spec():
    """The options every module takes to reach the portal."""
    return dict(
        url=dict(type="str", required=True, fallback=(env_fallback, ["SQUADRON_URL"])),
        token=dict(type="str", required=True, no_log=True, fallback=(env_fallback, ["SQUADRON_TOKEN"])),
        validate_certs=dict(type="bool", default=True),
        timeout=dict(type="int", default=30),
    )


def ordering_spec():
    """The options of a module that places an order (a product's or an
    instance's operation), and waits for it."""
    return dict(
        inputs=dict(type="dict", default={}),
        business_unit=dict(type="str"),
        idempotency_key=dict(type="str", default="", no_log=False),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=1800),
        poll_interval=dict(type="float", default=2.0),
    )


class SquadronError(Exception):
    """The portal refused a request, or could not be reached."""

    def __init__(self, message, status=None, body=None):
        super(SquadronError, self).__init__(message)
        self.status = status
        self.body = body


class SquadronClient:
    """The portal's API at ``url``, as the holder of ``token``."""

    def __init__(self, url, token, validate_certs=True, timeout=30):
        self.base = url.rstrip("/") + "/"
        self.token = token
        self.validate_certs = validate_certs
        self.timeout = timeout

    def request(self, method, path, body=None, headers=None, query=None):
        """``(status, headers, decoded JSON)`` of one request; a 4xx or 5xx
        answer raises ``SquadronError`` with what the portal said."""
        url = self.address(path)
        if query:
            url += ("&" if "?" in url else "?") + urlencode(query, doseq=True)
        sent = {"Authorization": "Token %s" % self.token, "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body)
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        try:
            response = open_url(
                url,
                method=method,
                data=data,
                headers=sent,
                validate_certs=self.validate_certs,
                timeout=self.timeout,
                follow_redirects="safe",
            )
            raw = response.read()
            status = response.getcode()
            answer_headers = dict((k.lower(), v) for k, v in response.headers.items())
        except HTTPError as error:
            raw = error.read() if hasattr(error, "read") else b""
            raise SquadronError(
                "%s %s answered %s: %s" % (method, url, error.code, _detail(raw)),
                status=error.code,
                body=_decode(raw),
            )
        except URLError as error:
            raise SquadronError("%s %s failed: %s" % (method, url, error.reason))
        return status, answer_headers, _decode(raw)

    def address(self, path):
        """The URL of ``path``: relative to the portal's, or a link the portal
        gave (``next``, ``url``) that must lead back to it. The token goes to
        the portal only, never to a host a link names (a proxy rewriting
        hosts, a poisoned answer)."""
        if not path.startswith(("http://", "https://")):
            return urljoin(self.base, path.lstrip("/"))
        given, own = urlsplit(path), urlsplit(self.base)
        if (given.scheme, given.netloc.lower()) != (own.scheme, own.netloc.lower()):
            raise SquadronError(
                "The portal gave a link to %s://%s, not to its own address %s: the token is not sent "
                "there. Check the url option against the portal's SQUADRON_BASE_URL."
                % (given.scheme, given.netloc, self.base)
            )
        return path

    def get(self, path, query=None):
        return self.request("GET", path, query=query)[2]

    def pages(self, path, query=None, limit=None, keep=None):
        """Every result of a paginated list (following ``next``) that ``keep``
        accepts (all without it), at most ``limit`` of them: what the portal
        cannot filter is filtered here before the limit counts, or a result
        past the first ``limit`` fetched would never be found."""
        found = []
        answer = self.get(path, query=query)
        while True:
            found.extend(item for item in answer.get("results", []) if keep is None or keep(item))
            if answer.get("next") is None or (limit is not None and len(found) >= limit):
                return found[:limit] if limit is not None else found
            answer = self.get(answer["next"])

    def place(self, path, body, business_unit, key):
        """``(order, replayed)``: the order placed by POSTing ``body`` (with
        ``business_unit`` when given) under the Idempotency-Key ``key``;
        ``replayed`` when the portal answered one placed before under it."""
        if business_unit:
            body = dict(body, business_unit=business_unit)
        status, headers, order = self.request("POST", path, body=body, headers={"Idempotency-Key": key})
        return order, headers.get("idempotent-replayed") == "true"

    def wait_for_order(self, order, timeout, interval=2.0):
        """The order once it ends (``TERMINAL_STATUSES``), read again every
        ``interval`` seconds; ``SquadronError`` if ``timeout`` passes first."""
        deadline = time.time() + timeout
        while order["status"] not in TERMINAL_STATUSES:
            if time.time() >= deadline:
                raise SquadronError(
                    "order #%s is still %s after %ss" % (order["id"], order["status"], timeout), body=order
                )
            time.sleep(interval)
            order = self.get(order["url"])
        return order


def ended_message(order):
    """Why a waited-for order is a failure, in one line."""
    reason = (order.get("result") or {}).get("failure_reason") or ""
    return "order #%s ended %s%s" % (order["id"], order["status"], ": " + reason if reason else "")


def path_of(collection, key):
    """``api/v1/{collection}/{key}/``, ``key`` quoted: a slug from a play is
    a path segment, never a way to another path."""
    return "api/v1/%s/%s/" % (collection, quote(str(key), safe=""))


def client_from(params):
    return SquadronClient(
        params["url"], params["token"], validate_certs=params["validate_certs"], timeout=params["timeout"]
    )


def _decode(raw):
    if not raw:
        return None
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        return json.loads(text)
    except ValueError:
        return text


def _detail(raw):
    decoded = _decode(raw)
    if isinstance(decoded, (dict, list)):
        return json.dumps(decoded, sort_keys=True)
    return str(decoded or "")[:500]


# --- Types from the form ------------------------------------------------------


def _types_of(schema):
    declared = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(declared, str):
        return [declared]
    return list(declared or [])


def coerce(value, schema):
    """``value`` as the JSON Schema ``schema`` types it: "3901" becomes 3901
    for an integer, "true" True for a boolean, 3901 "3901" for a string,
    into objects' properties and arrays' items. Through ``-e``, templating
    or a YAML file everything may arrive as a string (the "type trap"): the
    form is the one place that knows what was meant. A value that does not
    read as its type is left as it is, for the portal to refuse with a
    message naming the field."""
    types = _types_of(schema)
    if value is None or not types:
        return value
    if isinstance(value, str):
        return _from_text(value, schema, types)
    if isinstance(value, bool):
        if "boolean" not in types and "string" in types:
            return str(value).lower()
        return value
    if isinstance(value, (int, float)):
        if isinstance(value, float) and value.is_integer() and "integer" in types and "number" not in types:
            return int(value)
        if "integer" not in types and "number" not in types and "string" in types:
            return str(value)
        return value
    if isinstance(value, dict) and "object" in types:
        return coerce_inputs(value, schema)
    if isinstance(value, list) and "array" in types and isinstance(schema.get("items"), dict):
        return [coerce(item, schema["items"]) for item in value]
    return value


def _from_text(value, schema, types):
    if "string" in types:
        return value
    text = value.strip()
    if "integer" in types or "number" in types:
        try:
            return int(text)
        except ValueError:
            pass
    if "number" in types:
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return number
    if "boolean" in types and text.lower() in TRUE_WORDS | FALSE_WORDS:
        return text.lower() in TRUE_WORDS
    if "null" in types and text.lower() in ("", "null", "none"):
        return None
    if "object" in types or "array" in types:
        try:
            parsed = json.loads(text)
        except ValueError:
            return value
        if isinstance(parsed, (dict, list)):
            return coerce(parsed, schema)
    return value


def coerce_inputs(inputs, form_schema):
    """The inputs of an order, each coerced by its property in the form."""
    properties = (form_schema or {}).get("properties") or {}
    return dict((name, coerce(value, properties.get(name) or {})) for name, value in (inputs or {}).items())


# --- Idempotency ------------------------------------------------------------------


def idempotency_key(target, inputs, business_unit, key):
    """The Idempotency-Key a task sends: a hash of what it asks (the target,
    its inputs as coerced, the business unit) and of the user's ``key``.
    Running the same task again sends the same key, and the portal answers
    the first order instead of placing another (for as long as it keeps
    keys: 24 hours); a different ``key`` asks for a new order."""
    meaning = json.dumps(
        {"target": target, "inputs": inputs, "business_unit": business_unit, "key": key},
        sort_keys=True,
        separators=(",", ":"),
    )
    return KEY_PREFIX + hashlib.sha256(meaning.encode("utf-8")).hexdigest()
