"""Cloudflare R2 client through its S3 API with boto3: a sync core and async wrappers.

Each operation runs on the client's own thread pool (``max_concurrency`` threads, 32 by default, so a large
``get_many`` never takes more than that many connections and never starves the default
executor). botocore is configured with connect/read timeouts, ``standard`` retries
(``max_attempts`` in total), SigV4, path-style addressing for loopback/IP endpoints, and checksums
only when required (what R2 supports).

Errors are mapped into the LayerError tree by :mod:`.r2_errors` (``layer="r2"``,
``where="bucket/key"``; secrets never appear in messages). NoSuchKey / 404 on a read is ``None``
(read, and found nothing); an object over ``max_bytes`` is ResponseTooLarge.

Every call goes through a circuit breaker on the endpoint (:mod:`.breaker`: ``CircuitOpen`` once it
failed repeatedly) and each async call has a wall-clock budget (``ATTEMPT_TIMEOUT_FACTOR`` x
``timeout_s`` x ``max_attempts``): an endpoint that drips its answer for ever costs one LayerTimeout
(the worker thread finishes or fails on its own).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import boto3
import botocore.config
from botocore.exceptions import BotoCoreError, ClientError

from . import traffic
from .breaker import BreakerRegistry
from .errors import LayerTimeout, ResponseTooLarge
from .http import ATTEMPT_TIMEOUT_FACTOR
from .r2_errors import LAYER, is_not_found, map_botocore_error, map_client_error

__all__ = ["ObjectInfo", "R2Client", "map_botocore_error", "map_client_error"]

DEFAULT_MAX_BYTES = 32 * 1024 * 1024
READ_CHUNK_BYTES = 1024 * 1024
DEFAULT_MAX_CONCURRENCY = 32  # 50 ms a GET: 32 in flight read 10,000 blocks in ~16 s; each is one thread
T = TypeVar("T")


@dataclass(frozen=True)
class ObjectInfo:
    """One listed object: key, ETag (as S3 spells it, quotes included) and size in bytes."""

    key: str
    etag: str
    size: int


def _path_style(endpoint_url: str) -> bool:
    host = urlsplit(endpoint_url).hostname or ""
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class R2Client:
    def __init__(
        self,
        endpoint_url: str,
        bucket: str,
        access_key_id: str,
        secret_access_key: str,
        *,
        region: str = "auto",
        timeout_s: float = 30,
        max_attempts: int = 3,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        max_bytes: int = DEFAULT_MAX_BYTES,
        list_page_size: int = 1000,
        breakers: BreakerRegistry | None = None,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.bucket = bucket
        self.max_bytes = max_bytes
        self.list_page_size = list_page_size
        self.request_count = 0
        self._secrets = (access_key_id, secret_access_key)
        self.breakers = breakers or BreakerRegistry()
        self._breaker = self.breakers.for_url(endpoint_url)
        self._call_budget_s = ATTEMPT_TIMEOUT_FACTOR * timeout_s * max(1, max_attempts)
        self._count_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=max(1, max_concurrency), thread_name_prefix="r2")
        config = botocore.config.Config(
            region_name=region,
            signature_version="s3v4",
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
            retries={"total_max_attempts": max(1, max_attempts), "mode": "standard"},  # attempts, not retries
            max_pool_connections=max(10, max_concurrency),
            s3={"addressing_style": "path" if _path_style(endpoint_url) else "auto"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._s3 = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=config,
        )

    def __repr__(self) -> str:
        return f"R2Client(endpoint_url={self.endpoint_url!r}, bucket={self.bucket!r})"

    # -- sync core ----------------------------------------------------------------------------
    def _where(self, key: str) -> str:
        return f"{self.bucket}/{key}"

    def _count(self, requests: int = 1) -> None:
        with self._count_lock:
            self.request_count += requests
        traffic.sent(requests)

    def _call(self, where: str, operation: Callable[[], T], *, count: bool = True) -> T:
        if count:
            self._count()
        self._breaker.acquire(layer=LAYER, where=where)
        try:
            result = operation()
        except ClientError as exc:
            error = map_client_error(exc, where, self._secrets)
        except BotoCoreError as exc:
            error = map_botocore_error(exc, where, self._secrets)
        except BaseException as exc:
            self._breaker.record(exc)
            raise
        else:
            self._breaker.record(None)
            return result
        self._breaker.record(error)
        traffic.failed()
        raise error from None

    def get_sync(self, key: str) -> bytes | None:
        where = self._where(key)

        def read() -> bytes | None:
            try:
                response = self._s3.get_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if is_not_found(exc):
                    return None
                raise
            return self._read_body(response, where)

        return self._call(where, read)

    def _read_body(self, response: dict[str, Any], where: str) -> bytes:
        """Read to the end (so botocore checks Content-Length: a truncated body raises), within the cap."""
        body, cap = response["Body"], self.max_bytes
        try:
            declared = response.get("ContentLength")
            if isinstance(declared, int) and declared > cap:
                raise ResponseTooLarge(f"object is {declared} bytes, cap is {cap}", limit=cap, layer=LAYER, where=where)
            chunks, total = [], 0
            while chunk := body.read(READ_CHUNK_BYTES):
                total += len(chunk)
                if total > cap:
                    raise ResponseTooLarge(f"object exceeds the {cap}-byte cap", limit=cap, layer=LAYER, where=where)
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            body.close()

    def list_keys_sync(self, prefix: str = "") -> list[str]:
        return [item.key for item in self.list_objects_sync(prefix)]

    def list_objects_sync(self, prefix: str = "") -> list[ObjectInfo]:
        """Every object under ``prefix`` with its ETag and size (``list_page_size`` keys a request)."""
        where = self._where(f"{prefix}*")
        objects: list[ObjectInfo] = []
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": self.list_page_size}
        )
        iterator = iter(pages)
        while True:
            page = self._call(where, lambda: next(iterator, None), count=False)
            if page is None:
                return objects
            self._count()
            objects.extend(
                ObjectInfo(item["Key"], str(item.get("ETag", "")), int(item.get("Size", 0)))
                for item in page.get("Contents", [])
            )

    def put_sync(self, key: str, data: bytes, content_type: str = "application/json") -> None:
        self._call(
            self._where(key),
            lambda: self._s3.put_object(Bucket=self.bucket, Key=key, Body=bytes(data), ContentType=content_type),
        )

    def delete_sync(self, key: str) -> None:
        self._call(self._where(key), lambda: self._s3.delete_object(Bucket=self.bucket, Key=key))

    # -- async wrappers -----------------------------------------------------------------------
    async def _run(self, where: str, fn: Callable[..., T], *args: Any) -> T:
        future = asyncio.get_running_loop().run_in_executor(self._executor, functools.partial(fn, *args))
        try:
            return await asyncio.wait_for(future, self._call_budget_s)
        except TimeoutError:
            budget = self._call_budget_s
            raise LayerTimeout(f"no complete answer within {budget:g}s", layer=LAYER, where=where) from None

    async def get(self, key: str) -> bytes | None:
        return await self._run(self._where(key), self.get_sync, key)

    async def get_many(self, keys: list[str]) -> dict[str, bytes | None]:
        unique = list(dict.fromkeys(keys))
        tasks = [asyncio.ensure_future(self.get(key)) for key in unique]
        try:
            values = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            raise
        return dict(zip(unique, values, strict=True))

    async def list_keys(self, prefix: str = "") -> list[str]:
        return await self._run(self._where(f"{prefix}*"), self.list_keys_sync, prefix)

    async def list_objects(self, prefix: str = "") -> list[ObjectInfo]:
        return await self._run(self._where(f"{prefix}*"), self.list_objects_sync, prefix)

    async def put(self, key: str, data: bytes, content_type: str = "application/json") -> None:
        await self._run(self._where(key), self.put_sync, key, data, content_type)

    async def delete(self, key: str) -> None:
        await self._run(self._where(key), self.delete_sync, key)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._s3.close()

    async def aclose(self) -> None:
        self.close()
