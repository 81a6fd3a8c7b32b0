"""A local Solana JSON-RPC 2.0 node on loopback: a thread-safe ledger of accounts and signatures.

It answers what the pipeline asks a real node, with the real response shapes and limits:
``getMultipleAccounts`` (at most 100 keys, else JSON-RPC error -32602), ``getAccountInfo``,
``getSignatureStatuses`` (at most 256; the ledger keeps all history), ``getProgramAccounts``
(``memcmp``/``dataSize`` filters, ``withContext``), ``getHealth``, ``getVersion``, ``getSlot``,
``getLatestBlockhash``; batch requests (a JSON array); an unknown method is -32601. Account data is
served as ``[base64, "base64"]`` (also ``base58`` and the legacy ``binary`` form). ``method_counts``
counts calls per method; the base class's ``faults`` make the node slow, down, 5xx or 429, and
:meth:`SolanaRpcServer.fail_next` answers the next few requests with an HTTP error (e.g. one 429,
then success). POST is accepted on any path, as hosted endpoints carry API tokens in the path.
The state is a :class:`~reconcile_pipeline.sandbox.ledger.Ledger`; parameter checks and response
shapes are in :mod:`reconcile_pipeline.sandbox.solana_wire`.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from solders.signature import Signature

from .httpserver import LoopbackServer, Request, Response
from .ledger import Ledger, new_pubkey
from .solana_wire import (
    RpcError,
    account_json,
    config_param,
    error_json,
    invalid_params,
    matches_filters,
    pubkey_param,
    status_json,
)

MAX_MULTIPLE_ACCOUNTS = 100
MAX_SIGNATURE_STATUSES = 256
API_VERSION = "2.2.0"


class SolanaRpcServer(LoopbackServer):
    """``SolanaRpcServer(ledger)``: POST JSON-RPC (single or batch) to ``/`` or any path."""

    name = "solana-rpc"

    def __init__(self, ledger: Ledger | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.ledger = ledger or Ledger()
        self.method_counts: Counter[str] = Counter()
        self._scripted: list[Response] = []
        self._methods = {
            "getAccountInfo": self._get_account_info,
            "getMultipleAccounts": self._get_multiple_accounts,
            "getSignatureStatuses": self._get_signature_statuses,
            "getProgramAccounts": self._get_program_accounts,
            "getHealth": lambda params: "ok",
            "getVersion": lambda params: {"solana-core": API_VERSION, "feature-set": 3294202862},
            "getSlot": lambda params: self.ledger.slot,
            "getLatestBlockhash": self._get_latest_blockhash,
        }

    def fail_next(self, status: int, times: int = 1, retry_after: float | None = None) -> None:
        """Answer the next ``times`` requests with HTTP ``status`` (and ``Retry-After`` if given)."""
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        with self._lock:
            self._scripted.extend(Response(status, b"scripted failure", dict(headers)) for _ in range(times))

    def reset_counters(self) -> None:
        super().reset_counters()
        with self._lock:
            self.method_counts.clear()

    def reset(self, ledger: Ledger | None = None) -> None:
        """Back to a healthy node with zeroed counters (and, if given, a new ledger)."""
        self.faults.reset()
        self.reset_counters()
        with self._lock:
            self._scripted.clear()
        if ledger is not None:
            self.ledger = ledger

    # -- HTTP -> JSON-RPC ------------------------------------------------------------------
    def route(self, request: Request) -> Response:
        with self._lock:
            scripted = self._scripted.pop(0) if self._scripted else None
        if scripted is not None:
            return scripted
        if request.method != "POST":  # any path: hosted RPC endpoints carry API tokens in the path
            return Response(405, b"Used HTTP Method is not allowed. POST or OPTIONS is required")
        try:
            payload = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            return Response.json(error_json(None, -32700, "Parse error"))
        if isinstance(payload, list):
            if not payload:
                return Response.json(error_json(None, -32600, "Invalid request"))
            return Response.json([self._answer(item) for item in payload])
        return Response.json(self._answer(payload))

    def _answer(self, call: Any) -> dict:
        if not isinstance(call, dict) or call.get("jsonrpc") != "2.0" or not isinstance(call.get("method"), str):
            return error_json(call.get("id") if isinstance(call, dict) else None, -32600, "Invalid request")
        method, call_id = call["method"], call.get("id")
        with self._lock:
            self.method_counts[method] += 1
        handler = self._methods.get(method)
        if handler is None:
            return error_json(call_id, -32601, "Method not found")
        params = call.get("params") or []
        if not isinstance(params, list):
            return error_json(call_id, -32602, "Invalid params: expected an array")
        try:
            return {"jsonrpc": "2.0", "result": handler(params), "id": call_id}
        except RpcError as exc:
            return error_json(call_id, exc.code, exc.message)

    def _context(self) -> dict:
        return {"apiVersion": API_VERSION, "slot": self.ledger.slot}

    # -- methods ---------------------------------------------------------------------------
    def _get_account_info(self, params: list) -> dict:
        if not params:
            raise invalid_params("Invalid params: missing pubkey")
        record = self.ledger.get_account(pubkey_param(params[0]))
        config = config_param(params, 1)
        return {"context": self._context(), "value": record and account_json(record, config)}

    def _get_multiple_accounts(self, params: list) -> dict:
        keys = params[0] if params else None
        if not isinstance(keys, list):
            raise invalid_params("Invalid params: expected an array of pubkeys")
        if len(keys) > MAX_MULTIPLE_ACCOUNTS:
            raise invalid_params(f"Too many inputs provided; max {MAX_MULTIPLE_ACCOUNTS}")
        addresses, config = [pubkey_param(k) for k in keys], config_param(params, 1)
        records = [self.ledger.get_account(a) for a in addresses]
        return {"context": self._context(), "value": [r and account_json(r, config) for r in records]}

    def _get_signature_statuses(self, params: list) -> dict:
        sigs = params[0] if params else None
        if not isinstance(sigs, list):
            raise invalid_params("Invalid params: expected an array of signatures")
        if len(sigs) > MAX_SIGNATURE_STATUSES:
            raise invalid_params(f"Too many inputs provided; max {MAX_SIGNATURE_STATUSES}")
        for sig in sigs:
            try:
                Signature.from_string(sig)
            except (ValueError, TypeError):
                raise invalid_params("Invalid param: WrongSize") from None
        config_param(params, 1)  # searchTransactionHistory: the local ledger keeps all history
        records = [self.ledger.get_signature(s) for s in sigs]
        return {"context": self._context(), "value": [r and status_json(r) for r in records]}

    def _get_program_accounts(self, params: list) -> Any:
        if not params:
            raise invalid_params("Invalid params: missing program id")
        program, config = pubkey_param(params[0]), config_param(params, 1)
        filters = config.get("filters") or []
        if not isinstance(filters, list) or len(filters) > 4:
            raise invalid_params("Too many filters provided; max 4")
        found = [
            {"pubkey": address, "account": account_json(record, config)}
            for address, record in self.ledger.accounts_by_owner(program)
            if matches_filters(record.data, filters)
        ]
        return {"context": self._context(), "value": found} if config.get("withContext") else found

    def _get_latest_blockhash(self, params: list) -> dict:
        slot = self.ledger.slot
        blockhash = new_pubkey(f"blockhash:{slot}".encode())
        return {"context": self._context(), "value": {"blockhash": blockhash, "lastValidBlockHeight": slot + 150}}
