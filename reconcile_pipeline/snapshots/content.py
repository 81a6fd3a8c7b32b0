"""Content already verified by CID: the content archive plus the verification state, for the IPFS snapshots.

:class:`VerifiedContent` answers "do we hold verified bytes (or at least their hash) for this CID?" so that
the regular cadence probes each gateway for the raw root block instead of downloading again; it puts every
object a gateway served and the CID verified into the archive (the issue-5 :class:`ContentArchive`), counts
what it saved, and collects the reads for the verification state (written once, at the end).

A database that cannot be read, or an archive that cannot be opened, only makes the snapshot download
again: never a finding.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

from .. import verification
from ..layers.errors import LayerError
from ..settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Known:
    """What is known of a verified CID: its hash and size, and its bytes when the archive holds them."""

    sha256: str
    size: int
    content: bytes | None


@dataclass
class VerifiedContent:
    settings: Settings
    use_known: bool  # regular cadence: reuse verified content; deep: re-download everything
    cadence: str | None = None
    run_id: str | None = None
    states: dict[str, dict] = field(default_factory=dict)
    reads: list[dict] = field(default_factory=list)
    reused: int = 0
    reused_bytes: int = 0
    archived: int = 0

    def __post_init__(self) -> None:
        self.archive = _open_archive(self.settings)

    def load_states(self, cids: list[str]) -> None:
        if not self.use_known:
            return
        try:
            self.states.update(verification.cid_states(self.settings, cids))
        except (LayerError, ValueError) as exc:
            log.warning("verification state unreadable, downloading everything: %s", exc)

    def lookup(self, cid: str, need_bytes: bool) -> Known | None:
        """Verified knowledge of ``cid``: archived bytes (re-verified on read), else the state's hash."""
        if not self.use_known:
            return None
        content = self.archive.get(cid) if self.archive is not None else None
        if content is not None:
            return Known(hashlib.sha256(content).hexdigest(), len(content), content)
        state = self.states.get(cid)
        if state is None or need_bytes:
            return None
        return Known(str(state["sha256"]), int(state["size"]), None)

    def reuse(self, cid: str, known: Known, status: str) -> None:
        self.reused += 1
        self.reused_bytes += known.size
        self.reads.append({"cid": cid, "status": status, "fresh": False})

    def fetched(
        self, cid: str, status: str, content: bytes | None, verified: bool, archived: bool | None = None
    ) -> None:
        """A gateway read: archive verified bytes (unless ``archived`` says the caller already put them: True or
        False), remember the read for the state."""
        fresh = verified and content is not None
        if fresh and archived is None and self.archive is not None:
            try:  # verified by the gateway client against the CID: not hashed again
                archived = self.archive.put(cid, content, verified=True, durable=False)
            except OSError as exc:  # a full or read-only archive: the read still counts
                log.warning("content archive not written for %s: %s", cid, exc)
        self.archived += bool(fresh and archived)
        read = {"cid": cid, "status": status, "fresh": fresh}
        if fresh:
            read |= {"sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}
        self.reads.append(read)

    def save(self) -> None:
        try:
            verification.record_cids(self.settings, self.reads, cadence=self.cadence, run_id=self.run_id)
        except (LayerError, ValueError) as exc:
            log.warning("verification state not written: %s", exc)

    def counts(self) -> dict[str, int]:
        return {"reused": self.reused, "reused_bytes": self.reused_bytes, "archived": self.archived}


def _open_archive(settings: Settings):
    try:
        from ..repairs.archive import ContentArchive
    except ImportError:  # the archive module is issue 5's: without it, nothing is reused or archived
        return None
    return ContentArchive.from_settings(settings)
