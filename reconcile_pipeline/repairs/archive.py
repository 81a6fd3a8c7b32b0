"""The content archive: every IPFS object verified by CID, kept by CID so byte-exact re-pins stay possible.

:class:`ContentArchive` is the interface (``put`` / ``get`` / ``has``), keyed by the CID's canonical
spelling (CIDv1 base32, so a Qm and a bafy spelling of one DAG share one copy). Bytes are stored only if
they hash to the CID and are re-verified on every read, so a corrupted copy reads as absent, never as
content. Two backends: :class:`FolderArchive` (files sharded flatfs-style, written atomically: temporary
file, fsync, rename) and :class:`BucketArchive` (objects ``content-archive/<shard>/<cid>`` in an R2/S3
bucket through the R2 client; a PUT is atomic). ``from_settings`` picks the bucket when
``settings.repairs.archive_bucket`` is set, else the folder ``settings.ipfs.archive_dir``. A backend that
cannot be reached raises the LayerError tree (unknown, not "no copy").
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path
from typing import Any

from reconcile_pipeline.layers.cid import parse_cid
from reconcile_pipeline.layers.errors import DecodeError
from reconcile_pipeline.layers.unixfs import cid_matches

__all__ = ["BucketArchive", "ContentArchive", "FolderArchive", "archive_key"]
BUCKET_PREFIX = "content-archive/"


@functools.lru_cache(maxsize=65536)  # a snapshot looks a CID up, then puts it: parse it once
def archive_key(cid: str) -> str:
    """The canonical file name for `cid` (CIDv1 base32); raises DecodeError for a non-CID."""
    try:
        return str(parse_cid(cid.strip()).to_v1())
    except DecodeError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parse failure is bad input
        raise DecodeError(f"not a CID: {exc}", layer="archive", where=cid) from None


class ContentArchive:
    """Verified bytes by CID. Subclasses implement ``_read`` / ``_write`` / ``_exists`` on canonical keys."""

    @classmethod
    def from_settings(cls, settings: Any) -> ContentArchive:
        """The bucket archive if ``settings.repairs.archive_bucket`` is set, else the folder ``ipfs.archive_dir``."""
        bucket = getattr(getattr(settings, "repairs", None), "archive_bucket", "")
        if bucket:
            from ..clients import r2_client

            return BucketArchive(r2_client(settings.model_copy(update={
                "blockstore": settings.blockstore.model_copy(update={"r2_bucket": bucket})})))  # fmt: skip
        return FolderArchive(Path(settings.ipfs.archive_dir))

    def put(self, cid: str, data: bytes, *, verified: bool = False, durable: bool = True) -> bool:
        """Store `data` under `cid` if it is what the CID names; True if the archive now holds it.

        ``verified``: the caller has just checked `data` against `cid` (a gateway read verified by CID), so it is
        not hashed again; a copy already stored is then kept only if it is byte-identical to `data`.
        ``durable=False``: no fsync of the file (a folder archive; a snapshot caching what it read). Still written
        atomically (rename); a copy lost or torn by a crash reads as absent, since every read re-verifies it."""
        try:
            key = archive_key(cid)
        except DecodeError:
            return False
        if not verified and not cid_matches(cid, data):
            return False
        if self._exists(key) and (self._read(key) == data if verified else self.get(cid) is not None):
            return True
        self._write(key, data, durable)
        return True

    def get(self, cid: str) -> bytes | None:
        """The archived bytes of `cid`, re-verified; None if absent, unreadable or no longer matching."""
        try:
            key = archive_key(cid)
        except DecodeError:
            return None
        data = self._read(key)
        if data is None or not cid_matches(cid, data):
            return None
        return data

    def close(self) -> None:
        """Release the backend's client (nothing to do for a folder)."""

    def has(self, cid: str) -> bool:
        """Whether a file for `cid` exists (``get`` re-verifies the bytes)."""
        try:
            return self._exists(archive_key(cid))
        except DecodeError:
            return False

    def _read(self, key: str) -> bytes | None:  # pragma: no cover - interface
        raise NotImplementedError

    def _write(self, key: str, data: bytes, durable: bool = True) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def _exists(self, key: str) -> bool:  # pragma: no cover - interface
        raise NotImplementedError


class FolderArchive(ContentArchive):
    """Files under `root`, sharded by the last two characters before the CID's final one (flatfs style)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._folders: set[Path] = set()  # shard folders known to exist

    def path_for(self, key: str) -> Path:
        return self.root / key[-3:-1] / key

    def _read(self, key: str) -> bytes | None:
        try:
            return self.path_for(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError:
            return None

    def _exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def _write(self, key: str, data: bytes, durable: bool = True) -> None:
        target = self.path_for(key)
        if target.parent not in self._folders:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(target.parent)
        handle, temp_name = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                if durable:
                    os.fsync(out.fileno())
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise


class BucketArchive(ContentArchive):
    """Objects ``content-archive/<shard>/<cid>`` in an R2/S3 bucket, through an :class:`~..layers.r2.R2Client`."""

    def __init__(self, client: Any) -> None:
        self.client = client

    @staticmethod
    def object_key(key: str) -> str:
        return f"{BUCKET_PREFIX}{key[-3:-1]}/{key}"

    def _read(self, key: str) -> bytes | None:
        return self.client.get_sync(self.object_key(key))

    def _exists(self, key: str) -> bool:
        name = self.object_key(key)
        return name in self.client.list_keys_sync(name)

    def _write(self, key: str, data: bytes, durable: bool = True) -> None:  # a PUT is durable when it returns
        self.client.put_sync(self.object_key(key), data, content_type="application/octet-stream")

    def close(self) -> None:
        self.client.close()
