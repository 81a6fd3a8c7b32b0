"""A local S3 endpoint (standing in for Cloudflare R2) on loopback: moto's threaded server.

``S3Server().start()`` binds 127.0.0.1 on a free port (``port=0``; the bound port is read back
with ``ThreadedMotoServer.get_host_and_port()``), ``.url`` is the endpoint URL, and
``.create_bucket(name)`` makes a bucket. The world config uses the fixed fake credentials
:data:`ACCESS_KEY_ID` / :data:`SECRET_ACCESS_KEY` (moto accepts any credentials).

moto keeps its backends per process: two servers in one process share buckets and objects, so
use distinct bucket names (or call :meth:`S3Server.reset`, which clears all moto state).
"""

from __future__ import annotations

import logging

import boto3
import botocore.config
from moto.server import ThreadedMotoServer

ACCESS_KEY_ID = "local-r2-access-key"
SECRET_ACCESS_KEY = "local-r2-secret-key"
REGION = "us-east-1"  # R2 aliases us-east-1 to "auto"; moto rejects "auto" for CreateBucket


class S3Server:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._moto: ThreadedMotoServer | None = None
        self._url = ""

    def __repr__(self) -> str:
        return f"S3Server(url={self._url!r})"

    @property
    def url(self) -> str:
        if not self._url:
            raise RuntimeError("S3Server is not started")
        return self._url

    def start(self) -> S3Server:
        werkzeug_log = logging.getLogger("werkzeug")
        if werkzeug_log.level == logging.NOTSET:
            werkzeug_log.setLevel(logging.WARNING)  # no per-request access log lines
        self._moto = ThreadedMotoServer(ip_address=self._host, port=self._port, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self._url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket, so a client now gets 'connection refused'."""
        if self._moto is None:
            return
        self._moto.stop()
        server = getattr(self._moto, "_server", None)  # werkzeug closes it on exit; make sure
        if server is not None:
            server.server_close()
        self._moto = None

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self):  # noqa: ANN201 - a boto3 S3 client for setup and assertions
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def reset(self) -> None:
        """Clear every bucket and object moto holds in this process."""
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=10).close()
