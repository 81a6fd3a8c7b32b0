"""The R2 client (boto3, S3 API) against moto's S3 server, plus error mapping on odd paths."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Iterator

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from botocore.stub import Stubber

from reconcile_pipeline.layers.errors import (
    LayerAuthError,
    LayerConnectError,
    LayerDataError,
    LayerRateLimited,
    LayerServerError,
    LayerTimeout,
    LayerUnavailable,
    ResponseTooLarge,
)
from reconcile_pipeline.layers.r2 import R2Client, map_botocore_error, map_client_error
from reconcile_pipeline.sandbox.httpserver import LoopbackServer, Request, Response
from reconcile_pipeline.sandbox.s3 import ACCESS_KEY_ID, SECRET_ACCESS_KEY, S3Server


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server


@pytest.fixture
def bucket(s3: S3Server) -> str:
    name = f"vdc-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(name)
    return name


def make_client(url: str, bucket: str, **kwargs: object) -> R2Client:
    kwargs.setdefault("max_attempts", 1)
    return R2Client(url, bucket, ACCESS_KEY_ID, SECRET_ACCESS_KEY, **kwargs)  # type: ignore[arg-type]


def run(client: R2Client, coro_fn):  # noqa: ANN001, ANN201
    try:
        return asyncio.run(coro_fn(client))
    finally:
        client.close()


# -- against moto ------------------------------------------------------------------------------
def test_put_get_list_delete(s3: S3Server, bucket: str) -> None:
    async def scenario(client: R2Client) -> dict:
        await client.put("blocks/0.json", b'{"blockNumber":0}')
        await client.put("blocks/1.json", b'{"blockNumber":1}')
        await client.put("pending/t1.json", b'{"txId":"t1"}')
        got = await client.get("blocks/1.json")
        blocks = await client.list_keys("blocks/")
        everything = await client.list_keys()
        await client.delete("blocks/0.json")
        return {"got": got, "blocks": blocks, "all": everything, "after": await client.list_keys("blocks/")}

    result = run(make_client(s3.url, bucket), scenario)
    assert result["got"] == b'{"blockNumber":1}'
    assert result["blocks"] == ["blocks/0.json", "blocks/1.json"]
    assert result["all"] == ["blocks/0.json", "blocks/1.json", "pending/t1.json"]
    assert result["after"] == ["blocks/1.json"]


def test_missing_key_is_none(s3: S3Server, bucket: str) -> None:
    assert run(make_client(s3.url, bucket), lambda c: c.get("blocks/404.json")) is None


def test_missing_bucket_is_a_data_error_not_none(s3: S3Server) -> None:
    with pytest.raises(LayerDataError, match=r"bucket does not exist.*NoSuchBucket") as info:
        run(make_client(s3.url, "no-such-bucket-here"), lambda c: c.get("blocks/1.json"))
    assert info.value.layer == "r2" and info.value.where == "no-such-bucket-here/blocks/1.json"


def test_list_paginates_and_counts_requests(s3: S3Server, bucket: str) -> None:
    client = make_client(s3.url, bucket, list_page_size=10)
    for i in range(25):
        client.put_sync(f"pending/t{i:02d}.json", b"{}")
    client.request_count = 0
    keys = run(client, lambda c: c.list_keys("pending/"))
    assert keys == [f"pending/t{i:02d}.json" for i in range(25)]
    assert client.request_count == 3


def test_list_objects_gives_etag_and_size_and_a_changed_object_changes_its_etag(s3: S3Server, bucket: str) -> None:
    client = make_client(s3.url, bucket, list_page_size=2)
    for i, body in enumerate([b"{}", b'{"a":1}', b"[1,2,3]"]):
        client.put_sync(f"blocks/{i}.json", body)
    client.request_count = 0
    listed = run(client, lambda c: c.list_objects("blocks/"))
    assert [(o.key, o.size) for o in listed] == [("blocks/0.json", 2), ("blocks/1.json", 7), ("blocks/2.json", 7)]
    assert listed[0].etag == f'"{hashlib.md5(b"{}").hexdigest()}"' and client.request_count == 2
    client.put_sync("blocks/1.json", b'{"a":2}')
    again = run(make_client(s3.url, bucket), lambda c: c.list_objects("blocks/"))
    assert [o.etag == p.etag for o, p in zip(again, listed, strict=True)] == [True, False, True]


def test_get_many_reads_concurrently_and_marks_missing(s3: S3Server, bucket: str) -> None:
    client = make_client(s3.url, bucket, max_concurrency=4)
    for i in range(0, 30, 2):
        client.put_sync(f"blocks/{i}.json", str(i).encode())
    keys = [f"blocks/{i}.json" for i in range(30)] + ["blocks/0.json"]
    values = run(client, lambda c: c.get_many(keys))
    assert list(values) == keys[:30]
    assert all(values[f"blocks/{i}.json"] == (str(i).encode() if i % 2 == 0 else None) for i in range(30))


def test_object_over_the_cap_is_too_large(s3: S3Server, bucket: str) -> None:
    client = make_client(s3.url, bucket, max_bytes=1024)
    client.put_sync("blocks/big.json", b"x" * 2048)
    with pytest.raises(ResponseTooLarge, match="2048 bytes, cap is 1024"):
        run(client, lambda c: c.get("blocks/big.json"))


def test_stopped_server_is_connect_error_never_none(bucket: str) -> None:
    stopped = S3Server().start()
    url = stopped.url
    stopped.stop()
    for call in (lambda c: c.get("k"), lambda c: c.list_keys(""), lambda c: c.get_many(["a", "b"])):
        with pytest.raises(LayerConnectError, match="EndpointConnectionError") as info:
            run(make_client(url, bucket), call)
        assert isinstance(info.value, LayerUnavailable)


def test_secrets_not_in_repr(s3: S3Server) -> None:
    client = make_client(s3.url, "b")
    assert SECRET_ACCESS_KEY not in repr(client) and ACCESS_KEY_ID not in repr(client)
    client.close()


def test_bad_credentials_map_to_auth_error_without_secrets(s3: S3Server, bucket: str) -> None:
    # moto accepts any credentials: pin the service's answer with botocore's Stubber.
    client = make_client(s3.url, bucket)
    stubber = Stubber(client._s3)
    message = f"signature for {ACCESS_KEY_ID} / {SECRET_ACCESS_KEY} does not match"
    stubber.add_client_error("get_object", "SignatureDoesNotMatch", message, http_status_code=403)
    stubber.add_client_error("list_objects_v2", "InvalidAccessKeyId", "unknown key", http_status_code=403)
    with stubber:
        with pytest.raises(LayerAuthError, match=r"GetObject failed: SignatureDoesNotMatch \(HTTP 403\)") as info:
            asyncio.run(client.get("k"))
        with pytest.raises(LayerAuthError, match="InvalidAccessKeyId"):
            asyncio.run(client.list_keys(""))
    client.close()
    assert ACCESS_KEY_ID not in str(info.value) and SECRET_ACCESS_KEY not in str(info.value)


# -- transport faults from a plain loopback HTTP server ------------------------------------------
class ObjectServer(LoopbackServer):
    """Answers every request with a 4 KiB object: the faults decide what the client sees."""

    def route(self, request: Request) -> Response:
        return Response(200, b"x" * 4096, {"Content-Type": "application/octet-stream"})


@pytest.fixture(scope="module")
def object_server() -> Iterator[ObjectServer]:
    with ObjectServer() as server:
        yield server


@pytest.fixture
def objects(object_server: ObjectServer) -> ObjectServer:
    object_server.faults.reset()
    return object_server


def test_plain_server_answers_an_object(objects: ObjectServer) -> None:
    assert run(make_client(objects.url, "b"), lambda c: c.get("k")) == b"x" * 4096


@pytest.mark.parametrize(
    "mode, error",
    [("error", LayerServerError), ("ratelimit", LayerRateLimited), ("truncate", LayerConnectError)],
)
def test_faults_map_into_the_tree(objects: ObjectServer, mode: str, error: type) -> None:
    objects.faults.mode = mode
    objects.faults.retry_after_s = 0
    with pytest.raises(error) as info:
        run(make_client(objects.url, "b"), lambda c: c.get("k"))
    assert info.value.layer == "r2" and info.value.where == "b/k"


def test_503_is_retried_by_botocore(objects: ObjectServer) -> None:
    objects.faults.mode = "flaky"
    objects.faults.flaky_every = 2
    values = run(make_client(objects.url, "b", max_attempts=3), lambda c: c.get_many(["a", "b", "c"]))
    assert all(v == b"x" * 4096 for v in values.values())


def test_slow_server_is_timeout(objects: ObjectServer) -> None:
    objects.faults.latency_s = 0.6
    with pytest.raises(LayerTimeout, match="ReadTimeoutError"):
        run(make_client(objects.url, "b", timeout_s=0.2), lambda c: c.get("k"))


# -- the mapping table --------------------------------------------------------------------------
def client_error(code: str, status: int, message: str = "m") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject"
    )


@pytest.mark.parametrize(
    "code, status, expected",
    [
        ("AccessDenied", 403, LayerAuthError),
        ("InvalidAccessKeyId", 403, LayerAuthError),
        ("SignatureDoesNotMatch", 403, LayerAuthError),
        ("SlowDown", 503, LayerRateLimited),
        ("TooManyRequests", 429, LayerRateLimited),
        ("ServiceUnavailable", 503, LayerServerError),
        ("InternalError", 500, LayerServerError),
        ("502", 502, LayerServerError),
        ("NoSuchBucket", 404, LayerDataError),
        ("InvalidArgument", 400, LayerDataError),
    ],
)
def test_client_error_mapping(code: str, status: int, expected: type) -> None:
    mapped = map_client_error(client_error(code, status, f"has {SECRET_ACCESS_KEY}"), "b/k", (SECRET_ACCESS_KEY,))
    assert type(mapped) is expected
    assert f"{code} (HTTP {status})" in str(mapped) and SECRET_ACCESS_KEY not in str(mapped)
    if expected is LayerServerError:
        assert mapped.status_code == status


@pytest.mark.parametrize(
    "exc, expected",
    [
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), LayerConnectError),
        (ConnectionClosedError(endpoint_url="http://127.0.0.1:1"), LayerConnectError),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), LayerTimeout),
        (ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"), LayerTimeout),
        (NoCredentialsError(), LayerAuthError),
    ],
)
def test_botocore_error_mapping(exc: Exception, expected: type) -> None:
    mapped = map_botocore_error(exc, "b/k")  # type: ignore[arg-type]
    assert type(mapped) is expected and mapped.layer == "r2" and mapped.where == "b/k"


def test_an_etag_proves_bytes_only_when_single_part_md5_and_size_match():
    import hashlib

    from reconcile_pipeline.layers.r2 import ObjectInfo
    from reconcile_pipeline.snapshots.r2_reuse import etag_proves

    data = b'{"blockNumber":7}'
    md5 = hashlib.md5(data).hexdigest()
    assert etag_proves(ObjectInfo("blocks/7.json", f'"{md5}"', len(data)), data)
    assert etag_proves(ObjectInfo("blocks/7.json", md5.upper(), len(data)), data)
    assert not etag_proves(ObjectInfo("blocks/7.json", f'"{md5}"', len(data) + 1), data)  # size differs
    assert not etag_proves(ObjectInfo("blocks/7.json", f'"{md5}-2"', len(data)), data)  # multipart: not an MD5
    assert not etag_proves(ObjectInfo("blocks/7.json", '""', len(data)), data)
    assert not etag_proves(ObjectInfo("blocks/7.json", f'"{hashlib.md5(b"other").hexdigest()}"', len(data)), data)
