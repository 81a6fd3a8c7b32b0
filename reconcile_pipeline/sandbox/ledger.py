"""The local Solana cluster's state: a thread-safe ledger of accounts and transaction signatures.

:class:`Ledger` is what :class:`reconcile_pipeline.sandbox.solana_rpc.SolanaRpcServer` serves; the
world builders and tests fill it directly. :func:`new_pubkey` and :func:`new_signature` make
deterministic, well-formed keys and signatures from a seed.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

from solders.pubkey import Pubkey
from solders.signature import Signature

__all__ = ["AccountRecord", "Ledger", "SignatureRecord", "new_pubkey", "new_signature", "rent_exempt_lamports"]


def new_pubkey(seed: bytes) -> str:
    """A deterministic fake public key (base58 of SHA-256 of ``seed``)."""
    return str(Pubkey(hashlib.sha256(seed).digest()))


def new_signature(seed: bytes) -> str:
    """A deterministic fake transaction signature (base58 of 64 bytes)."""
    return str(Signature.from_bytes(hashlib.sha512(seed).digest()))


def rent_exempt_lamports(size: int) -> int:
    """The minimum balance that keeps an account of ``size`` data bytes rent-exempt."""
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
