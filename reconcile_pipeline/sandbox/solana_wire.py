"""The local Solana node's JSON-RPC wire format: parameter checks, errors and response shapes.

Parameter helpers raise :class:`RpcError` with the real node's code and message (-32602 invalid
params, -32600 for base58 data over 128 bytes); :func:`account_json` and :func:`status_json` build
the ``getAccountInfo``/``getMultipleAccounts``/``getProgramAccounts`` and ``getSignatureStatuses``
entries; :func:`matches_filters` applies ``getProgramAccounts`` ``memcmp``/``dataSize`` filters.
"""

from __future__ import annotations

import base64
from typing import Any

from solders.pubkey import Pubkey

from ..layers.multibase import decode_base58btc, encode_base58btc
from .ledger import AccountRecord, SignatureRecord

__all__ = [
    "BASE58_TOO_LONG",
    "U64_MAX",
    "RpcError",
    "account_json",
    "config_param",
    "encode_data",
    "error_json",
    "invalid_params",
    "matches_filters",
    "pubkey_param",
    "status_json",
]

U64_MAX = 18446744073709551615
BASE58_TOO_LONG = "Encoded binary (base 58) data should be less than 128 bytes, please use Base64 encoding."


class RpcError(Exception):
    """A JSON-RPC error object to answer with (``code``, ``message``)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def invalid_params(message: str) -> RpcError:
    """The -32602 error the real node answers for bad parameters."""
    return RpcError(-32602, message)


def pubkey_param(value: Any) -> str:
    """A base58 public key parameter, or the node's -32602 "Invalid param: Invalid"."""
    try:
        return str(Pubkey.from_string(value))
    except (ValueError, TypeError):
        raise invalid_params("Invalid param: Invalid") from None


def config_param(params: list, index: int) -> dict:
    """The optional config object at ``params[index]`` ({} when absent or null)."""
    config = params[index] if len(params) > index else None
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise invalid_params(f"Invalid params: expected a config object at position {index}")
    return config


def encode_data(data: bytes, config: dict) -> Any:
    """Account data per ``config``: ``dataSlice``, then base64 (also jsonParsed), base58 or binary (the default)."""
    window = config.get("dataSlice")
    if isinstance(window, dict):
        offset, length = int(window.get("offset", 0)), int(window.get("length", 0))
        data = data[offset : offset + length]
    encoding = config.get("encoding") or "binary"
    if encoding in ("base64", "jsonParsed"):
        return [base64.b64encode(data).decode(), "base64"]
    if encoding in ("base58", "binary"):
        if len(data) > 128:
            raise RpcError(-32600, BASE58_TOO_LONG)
        encoded = encode_base58btc(data)
        return encoded if encoding == "binary" else [encoded, "base58"]
    raise invalid_params(f"Invalid params: unsupported encoding {encoding!r}")


def account_json(record: AccountRecord, config: dict) -> dict:
    """One account as the node returns it (``getAccountInfo``, ``getMultipleAccounts``, ``getProgramAccounts``)."""
    return {
        "data": encode_data(record.data, config),
        "executable": record.executable,
        "lamports": record.lamports,
        "owner": record.owner,
        "rentEpoch": U64_MAX,
        "space": len(record.data),
    }


def status_json(record: SignatureRecord) -> dict:
    """One ``getSignatureStatuses`` entry (``confirmations`` is null once finalized)."""
    finalized = record.confirmation_status == "finalized"
    return {
        "slot": record.slot,
        "confirmations": None if finalized else 1,
        "err": record.err,
        "status": {"Ok": None} if record.err is None else {"Err": record.err},
        "confirmationStatus": record.confirmation_status,
    }


def matches_filters(data: bytes, filters: list) -> bool:
    """Whether account data passes every ``getProgramAccounts`` filter (``dataSize``, ``memcmp``)."""
    for spec in filters:
        if not isinstance(spec, dict):
            raise invalid_params("Invalid params: filter must be an object")
        if "dataSize" in spec:
            if len(data) != spec["dataSize"]:
                return False
        elif isinstance(spec.get("memcmp"), dict):
            offset, wanted = _memcmp(spec["memcmp"])
            if data[offset : offset + len(wanted)] != wanted:
                return False
        else:
            raise invalid_params(f"Invalid params: unknown filter {spec!r}")
    return True


def _memcmp(memcmp: dict) -> tuple[int, bytes]:
    offset, raw, encoding = memcmp.get("offset"), memcmp.get("bytes"), memcmp.get("encoding", "base58")
    if not isinstance(offset, int) or offset < 0 or not isinstance(raw, str):
        raise invalid_params("Invalid params: memcmp needs an offset and bytes")
    try:
        return offset, base64.b64decode(raw, validate=True) if encoding == "base64" else decode_base58btc(raw)
    except ValueError:
        raise invalid_params(f"Invalid params: memcmp bytes are not {encoding}") from None


def error_json(call_id: Any, code: int, message: str) -> dict:
    """A JSON-RPC 2.0 error response."""
    return {"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": call_id}
