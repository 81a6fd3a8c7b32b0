"""A local Cloudflare Workers KV REST API (v4) for one namespace, on loopback.

Speaks the endpoints the KV client uses, under ``/client/v4/accounts/{account}/storage/kv/
namespaces/{namespace}`` (the ``/client/v4`` prefix is optional; :attr:`KVServer.api_url` includes it):

- ``GET /values/{key}`` -> the raw bytes; 404 ``{"success": false, "errors": [{"code": 10009,
  "message": "get: 'key not found'"}]}`` when absent (keys are percent-decoded);
- ``PUT /values/{key}`` (raw body) and ``DELETE /values/{key}`` -> ``{"success": true, ...}``;
- ``GET /keys?prefix=&limit=&cursor=`` -> ``{"result": [{"name": ...}], "result_info": {"count": N,
  "cursor": "..."}}`` in lexicographic order, pages of at most ``min(limit, 1000, list_page_size)``
  keys, an opaque cursor, ``""`` when done;
- ``POST /bulk/get`` ``{"keys": [<= 100], "type": "text"|"json", "withMetadata": bool}`` ->
  ``{"result": {"values": {key: value-or-null}}}``; more than 100 keys -> 400.

Auth: ``Authorization: Bearer TOKEN``; missing -> 401, wrong -> 403, both with code 10000.
Knobs for tests: ``list_page_size``, ``bulk_supported`` (False answers the bulk endpoint with a
bare 404 like an API without it), ``rate_limit_next`` (answer the next N requests with 429).
``operations`` counts requests per operation (``get``, ``put``, ``delete``, ``list``, ``bulk_get``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import threading
from collections import Counter
from urllib.parse import unquote

from .httpserver import LoopbackServer, Request, Response

API_PREFIX = "/client/v4"
MAX_LIST_LIMIT = 1000
MAX_BULK_KEYS = 100
CODE_AUTH = 10000
CODE_KEY_NOT_FOUND = 10009
CODE_NAMESPACE_NOT_FOUND = 10013
CODE_BAD_REQUEST = 10001


def envelope(result: object = None, *, errors: list[dict] | None = None, **extra: object) -> dict:
    return {"success": not errors, "errors": errors or [], "messages": [], "result": result, **extra}


def error_response(status: int, code: int, message: str) -> Response:
    return Response.json(envelope(errors=[{"code": code, "message": message}]), status)


class KVServer(LoopbackServer):
    name = "kv"

    def __init__(
        self,
        account_id: str = "acct",
        namespace_id: str = "ns",
        token: str = "local-kv-token",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host, port)
        self.account_id = account_id
        self.namespace_id = namespace_id
        self._token = token
        self.namespace: dict[str, bytes] = {}
        self.operations: Counter[str] = Counter()
        self.list_page_size = MAX_LIST_LIMIT
        self.bulk_supported = True
        self.rate_limit_next = 0
        self._data_lock = threading.Lock()
        self._base = f"/accounts/{account_id}/storage/kv/namespaces/{namespace_id}"

    def __repr__(self) -> str:
        return f"KVServer(url={self.url!r}, account_id={self.account_id!r}, namespace_id={self.namespace_id!r})"

    @property
    def api_url(self) -> str:
        return self.url + API_PREFIX

    # -- thread-safe access for the world builder and tests ---------------------------------
    def set(self, key: str, value: bytes) -> None:
        with self._data_lock:
            self.namespace[key] = bytes(value)

    def remove(self, key: str) -> None:
        with self._data_lock:
            self.namespace.pop(key, None)

    def value(self, key: str) -> bytes | None:
        with self._data_lock:
            return self.namespace.get(key)

    def keys(self) -> list[str]:
        with self._data_lock:
            return sorted(self.namespace)

    # -- routing ------------------------------------------------------------------------------
    def route(self, request: Request) -> Response:
        denied = self._check_auth(request) or self._check_rate_limit()
        if denied:
            return denied
        path = request.path.removeprefix(API_PREFIX)
        if not path.startswith(self._base + "/"):
            return error_response(404, CODE_NAMESPACE_NOT_FOUND, "namespace not found")
        rest = path[len(self._base) :]
        if rest.startswith("/values/") and len(rest) > len("/values/"):
            return self._values(request, unquote(rest[len("/values/") :]))
        if rest == "/keys" and request.method == "GET":
            self._count_operation("list")
            return self._list(request)
        if rest == "/bulk/get" and request.method == "POST":
            self._count_operation("bulk_get")
            return self._bulk_get(request)
        return error_response(404, 7003, "Could not route to the requested path")

    def _count_operation(self, operation: str) -> None:
        with self._data_lock:
            self.operations[operation] += 1

    def _check_auth(self, request: Request) -> Response | None:
        header = next((v for k, v in request.headers.items() if k.lower() == "authorization"), "")
        if not header.startswith("Bearer "):
            return error_response(401, CODE_AUTH, "Authentication error")
        if not hmac.compare_digest(header[len("Bearer ") :].encode(), self._token.encode()):
            return error_response(403, CODE_AUTH, "Authentication error")
        return None

    def _check_rate_limit(self) -> Response | None:
        with self._data_lock:
            if self.rate_limit_next <= 0:
                return None
            self.rate_limit_next -= 1
        response = error_response(429, 10429, "Too many requests")
        response.headers["Retry-After"] = "0"
        return response

    def _values(self, request: Request, key: str) -> Response:
        if request.method == "GET":
            self._count_operation("get")
            value = self.value(key)
            if value is None:
                return error_response(404, CODE_KEY_NOT_FOUND, "get: 'key not found'")
            return Response(200, value, {"Content-Type": "application/octet-stream"})
        if request.method == "PUT":
            self._count_operation("put")
            self.set(key, request.body)
            return Response.json(envelope({}))
        if request.method == "DELETE":
            self._count_operation("delete")
            self.remove(key)
            return Response.json(envelope({}))
        return error_response(405, CODE_BAD_REQUEST, f"method {request.method} not allowed")

    def _list(self, request: Request) -> Response:
        prefix = request.arg("prefix", "") or ""
        try:
            limit = int(request.arg("limit", str(MAX_LIST_LIMIT)) or MAX_LIST_LIMIT)
            after = _decode_cursor(request.arg("cursor", "") or "")
        except ValueError as exc:
            return error_response(400, CODE_BAD_REQUEST, str(exc))
        page_size = max(1, min(limit, MAX_LIST_LIMIT, self.list_page_size))
        names = [k for k in self.keys() if k.startswith(prefix) and (after is None or k > after)]
        page, more = names[:page_size], len(names) > page_size
        cursor = _encode_cursor(page[-1]) if more else ""
        result_info = {"count": len(page), "cursor": cursor}
        return Response.json(envelope([{"name": name} for name in page], result_info=result_info))

    def _bulk_get(self, request: Request) -> Response:
        if not self.bulk_supported:
            return Response(404, b"404 page not found", {"Content-Type": "text/plain"})
        try:
            body = json.loads(request.body)
            keys, kind, with_metadata = body["keys"], body.get("type", "text"), bool(body.get("withMetadata"))
        except (ValueError, KeyError, TypeError, AttributeError):
            return error_response(400, CODE_BAD_REQUEST, 'request body must be {"keys": [...]}')
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) or kind not in ("text", "json"):
            return error_response(400, CODE_BAD_REQUEST, "keys must be a list of strings, type text or json")
        if len(keys) > MAX_BULK_KEYS:
            return error_response(400, CODE_BAD_REQUEST, f"at most {MAX_BULK_KEYS} keys per bulk get")
        try:
            values = {key: self._bulk_value(key, kind, with_metadata) for key in keys}
        except ValueError as exc:
            return error_response(400, CODE_BAD_REQUEST, str(exc))
        return Response.json(envelope({"values": values}))

    def _bulk_value(self, key: str, kind: str, with_metadata: bool) -> object:
        raw = self.value(key)
        if raw is None:
            return None
        try:
            text = raw.decode("utf-8")
            value = json.loads(text) if kind == "json" else text
        except ValueError:
            raise ValueError(f"value of {key!r} is not {'JSON' if kind == 'json' else 'UTF-8 text'}") from None
        return {"value": value, "metadata": None} if with_metadata else value


def _encode_cursor(last_key: str) -> str:
    return base64.urlsafe_b64encode(b"after:" + last_key.encode()).decode()


def _decode_cursor(cursor: str) -> str | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor.encode())
    except (binascii.Error, ValueError):
        raise ValueError("invalid cursor") from None
    if not raw.startswith(b"after:"):
        raise ValueError("invalid cursor")
    return raw[len(b"after:") :].decode("utf-8", "replace")
