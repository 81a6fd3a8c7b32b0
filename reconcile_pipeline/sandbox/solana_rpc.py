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
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from solders.pubkey import Pubkey
from solders.signature import Signature

from ..layers.cid import decode_multibase, encode_multibase
from .httpserver import LoopbackServer, Request, Response

MAX_MULTIPLE_ACCOUNTS = 100
MAX_SIGNATURE_STATUSES = 256
U64_MAX = 18446744073709551615
API_VERSION = "2.2.0"
BASE58_TOO_LONG = "Encoded binary (base 58) data should be less than 128 bytes, please use Base64 encoding."


def new_pubkey(seed: bytes) -> str:
    """A deterministic fake public key (base58 of SHA-256 of ``seed``)."""
    return str(Pubkey(hashlib.sha256(seed).digest()))


def new_signature(seed: bytes) -> str:
    """A deterministic fake transaction signature (base58 of 64 bytes)."""
    return str(Signature.from_bytes(hashlib.sha512(seed).digest()))


def rent_exempt_lamports(size: int) -> int:
    return (128 + size) * 3480 * 2


@dataclass(frozen=True)
class AccountRecord:
    data: bytes
    owner: str
    lamports: int
    executable: bool = False


@dataclass(frozen=True)
class SignatureRecord:
    slot: int
    err: dict | str | None
    confirmation_status: str


class Ledger:
    """What the local cluster holds. Every method is safe to call from any thread."""

    def __init__(self, slot: int = 250_000_000) -> None:
        self._lock = threading.Lock()
        self._accounts: dict[str, AccountRecord] = {}
        self._signatures: dict[str, SignatureRecord] = {}
        self.slot = slot

    def set_account(
        self, address: str, data: bytes, owner: str, lamports: int | None = None, executable: bool = False
    ) -> None:
        Pubkey.from_string(address), Pubkey.from_string(owner)  # refuse keys the real cluster could not hold
        lamports = rent_exempt_lamports(len(data)) if lamports is None else lamports
        with self._lock:
            self._accounts[address] = AccountRecord(bytes(data), owner, lamports, executable)

    def remove_account(self, address: str) -> None:
        with self._lock:
            self._accounts.pop(address, None)

    def get_account(self, address: str) -> AccountRecord | None:
        with self._lock:
            return self._accounts.get(address)

    def accounts_by_owner(self, owner: str) -> list[tuple[str, AccountRecord]]:
        with self._lock:
            return sorted((a, r) for a, r in self._accounts.items() if r.owner == owner)

    def add_signature(
        self, sig: str, *, slot: int, err: dict | str | None = None, confirmation_status: str = "finalized"
    ) -> None:
        with self._lock:
            self._signatures[sig] = SignatureRecord(slot, err, confirmation_status)

    def remove_signature(self, sig: str) -> None:
        with self._lock:
            self._signatures.pop(sig, None)

    def get_signature(self, sig: str) -> SignatureRecord | None:
        with self._lock:
            return self._signatures.get(sig)


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _invalid_params(message: str) -> RpcError:
    return RpcError(-32602, message)


def _pubkey_param(value: Any) -> str:
    try:
        return str(Pubkey.from_string(value))
    except (ValueError, TypeError):
        raise _invalid_params("Invalid param: Invalid") from None


def _config(params: list, index: int) -> dict:
    config = params[index] if len(params) > index else None
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise _invalid_params(f"Invalid params: expected a config object at position {index}")
    return config


def _encode_data(data: bytes, config: dict) -> Any:
    window = config.get("dataSlice")
    if isinstance(window, dict):
        offset, length = int(window.get("offset", 0)), int(window.get("length", 0))
        data = data[offset : offset + length]
    encoding = config.get("encoding") or "binary"
    if encoding in ("base64", "jsonParsed"):
        return [base64.b64encode(data).decode(), "base64"]
    if encoding in ("base58", "binary"):
        if len(data) > 128:
            raise RpcError(
                -32600, "Encoded binary (base 58) data should be less than 128 bytes, please use Base64 encoding."
            )
        encoded = _b58encode(data)
        return encoded if encoding == "binary" else [encoded, "base58"]
    raise _invalid_params(f"Invalid params: unsupported encoding {encoding!r}")


def _b58encode(data: bytes) -> str:
    return encode_multibase("z", data)[1:]


def _b58decode(text: str) -> bytes:
    return decode_multibase("z" + text)


def _account_json(record: AccountRecord, config: dict) -> dict:
    return {
        "data": _encode_data(record.data, config),
        "executable": record.executable,
        "lamports": record.lamports,
        "owner": record.owner,
        "rentEpoch": U64_MAX,
        "space": len(record.data),
    }


def _status_json(record: SignatureRecord) -> dict:
    finalized = record.confirmation_status == "finalized"
    return {
        "slot": record.slot,
        "confirmations": None if finalized else 1,
        "err": record.err,
        "status": {"Ok": None} if record.err is None else {"Err": record.err},
        "confirmationStatus": record.confirmation_status,
    }


def _matches(data: bytes, filters: list) -> bool:
    for spec in filters:
        if not isinstance(spec, dict):
            raise _invalid_params("Invalid params: filter must be an object")
        if "dataSize" in spec:
            if len(data) != spec["dataSize"]:
                return False
        elif isinstance(spec.get("memcmp"), dict):
            offset, wanted = _memcmp(spec["memcmp"])
            if data[offset : offset + len(wanted)] != wanted:
                return False
        else:
            raise _invalid_params(f"Invalid params: unknown filter {spec!r}")
    return True


def _memcmp(memcmp: dict) -> tuple[int, bytes]:
    offset, raw, encoding = memcmp.get("offset"), memcmp.get("bytes"), memcmp.get("encoding", "base58")
    if not isinstance(offset, int) or offset < 0 or not isinstance(raw, str):
        raise _invalid_params("Invalid params: memcmp needs an offset and bytes")
    try:
        return offset, base64.b64decode(raw, validate=True) if encoding == "base64" else _b58decode(raw)
    except ValueError:
        raise _invalid_params(f"Invalid params: memcmp bytes are not {encoding}") from None


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
            return Response.json(_error(None, -32700, "Parse error"))
        if isinstance(payload, list):
            if not payload:
                return Response.json(_error(None, -32600, "Invalid request"))
            return Response.json([self._answer(item) for item in payload])
        return Response.json(self._answer(payload))

    def _answer(self, call: Any) -> dict:
        if not isinstance(call, dict) or call.get("jsonrpc") != "2.0" or not isinstance(call.get("method"), str):
            return _error(call.get("id") if isinstance(call, dict) else None, -32600, "Invalid request")
        method, call_id = call["method"], call.get("id")
        with self._lock:
            self.method_counts[method] += 1
        handler = self._methods.get(method)
        if handler is None:
            return _error(call_id, -32601, "Method not found")
        params = call.get("params") or []
        if not isinstance(params, list):
            return _error(call_id, -32602, "Invalid params: expected an array")
        try:
            return {"jsonrpc": "2.0", "result": handler(params), "id": call_id}
        except RpcError as exc:
            return _error(call_id, exc.code, exc.message)

    def _context(self) -> dict:
        return {"apiVersion": API_VERSION, "slot": self.ledger.slot}

    # -- methods ---------------------------------------------------------------------------
    def _get_account_info(self, params: list) -> dict:
        if not params:
            raise _invalid_params("Invalid params: missing pubkey")
        record = self.ledger.get_account(_pubkey_param(params[0]))
        config = _config(params, 1)
        return {"context": self._context(), "value": record and _account_json(record, config)}

    def _get_multiple_accounts(self, params: list) -> dict:
        keys = params[0] if params else None
        if not isinstance(keys, list):
            raise _invalid_params("Invalid params: expected an array of pubkeys")
        if len(keys) > MAX_MULTIPLE_ACCOUNTS:
            raise _invalid_params(f"Too many inputs provided; max {MAX_MULTIPLE_ACCOUNTS}")
        addresses, config = [_pubkey_param(k) for k in keys], _config(params, 1)
        records = [self.ledger.get_account(a) for a in addresses]
        return {"context": self._context(), "value": [r and _account_json(r, config) for r in records]}

    def _get_signature_statuses(self, params: list) -> dict:
        sigs = params[0] if params else None
        if not isinstance(sigs, list):
            raise _invalid_params("Invalid params: expected an array of signatures")
        if len(sigs) > MAX_SIGNATURE_STATUSES:
            raise _invalid_params(f"Too many inputs provided; max {MAX_SIGNATURE_STATUSES}")
        for sig in sigs:
            try:
                Signature.from_string(sig)
            except (ValueError, TypeError):
                raise _invalid_params("Invalid param: WrongSize") from None
        _config(params, 1)  # searchTransactionHistory: the local ledger keeps all history
        records = [self.ledger.get_signature(s) for s in sigs]
        return {"context": self._context(), "value": [r and _status_json(r) for r in records]}

    def _get_program_accounts(self, params: list) -> Any:
        if not params:
            raise _invalid_params("Invalid params: missing program id")
        program, config = _pubkey_param(params[0]), _config(params, 1)
        filters = config.get("filters") or []
        if not isinstance(filters, list) or len(filters) > 4:
            raise _invalid_params("Too many filters provided; max 4")
        found = [
            {"pubkey": address, "account": _account_json(record, config)}
            for address, record in self.ledger.accounts_by_owner(program)
            if _matches(record.data, filters)
        ]
        return {"context": self._context(), "value": found} if config.get("withContext") else found

    def _get_latest_blockhash(self, params: list) -> dict:
        slot = self.ledger.slot
        blockhash = str(Pubkey(hashlib.sha256(f"blockhash:{slot}".encode()).digest()))
        return {"context": self._context(), "value": {"blockhash": blockhash, "lastValidBlockHeight": slot + 150}}


def _error(call_id: Any, code: int, message: str) -> dict:
    return {"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": call_id}
