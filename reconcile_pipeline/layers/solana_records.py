"""What one Solana RPC entry becomes: the per-record reads and the parsers of the node's entries.

:class:`MetadataRead` and :class:`SignatureRead` carry a status of "ok", "missing" (read, and the
node returned null), "invalid" (the chain holds something bad) or "unavailable" (could not read).
When the node itself sends nonsense, :func:`account_bytes` raises :class:`DecodeError` and
:func:`signature_read` lets an ``AttributeError`` out for an entry that is not an object; the client
reports either as "unavailable" (unknown), never as "invalid".
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Literal

from solders.pubkey import Pubkey

from .errors import DecodeError
from .metaplex import MINT_OFFSET, Metadata
from .solana_errors import LAYER

__all__ = ["MetadataRead", "SignatureRead", "account_bytes", "mint_hint", "signature_read"]


@dataclass
class MetadataRead:
    mint: str
    pda: str | None
    status: Literal["ok", "missing", "invalid", "unavailable"]
    metadata: Metadata | None = None
    error: str | None = None
    owner: str | None = None


@dataclass
class SignatureRead:
    signature: str
    status: Literal["ok", "missing", "invalid", "unavailable"]
    slot: int | None = None
    err: str | None = None
    confirmation_status: str | None = None
    succeeded: bool | None = None


def account_bytes(account: Any, where: str) -> tuple[bytes, str]:
    """(data, owner) of one account in a base64 RPC response; DecodeError if the node sent nonsense."""
    try:
        encoded, encoding = account["data"]
        if encoding != "base64" or not isinstance(account["owner"], str):
            raise ValueError(f"data encoding {encoding!r}")
        return base64.b64decode(encoded, validate=True), account["owner"]
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise DecodeError(f"malformed account in RPC response ({exc})", layer=LAYER, where=where) from None


def _err_text(err: Any) -> str | None:
    if err is None:
        return None
    return err if isinstance(err, str) else json.dumps(err, separators=(",", ":"), sort_keys=True)


def signature_read(sig: str, status: dict | None) -> SignatureRead:
    """The read of one ``getSignatureStatuses`` entry: null is "missing", else its slot, error and confirmation."""
    if status is None:
        return SignatureRead(sig, "missing")
    err = status.get("err")
    return SignatureRead(
        sig, "ok", status.get("slot"), _err_text(err), status.get("confirmationStatus"), succeeded=err is None
    )


def mint_hint(data: bytes) -> str:
    """The mint named in raw account bytes, for labelling an entry that does not decode."""
    return str(Pubkey(data[MINT_OFFSET : MINT_OFFSET + 32])) if len(data) >= MINT_OFFSET + 32 else ""
