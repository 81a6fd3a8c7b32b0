"""Support for the crash and credential tests (no tests here): effect counters, layer state, killable children.

- :class:`Effects` counts, on the local world's servers, every write a repair makes: KV PUT/DELETE by key,
  Pinata pins by CID, R2 (moto) PUT/DELETE by key, with the credential each request carried; and every
  read's credential. It also lets a test make a credential read-only on a server (scoped tokens).
- :func:`layer_state` is everything a repair could write, normalised so two worlds built from the same spec
  and the same frozen clock compare equal (ports and database timestamps left out).
- :func:`start_child` starts a Python child (the CLI, or :data:`APPLY_CHILD` applying a plan file) in its own
  process group; :func:`kill` SIGKILLs that group (only what the test started).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pandas as pd

from reconcile_pipeline.layers.database import DatabaseClient
from reconcile_pipeline.repairs.ledger import Ledger

ROOT = Path(__file__).resolve().parents[1]
OBSERVER = "test-observer"  # the R2 key id the tests' own reads present (not the pipeline's)
SQLITE_DB_LOG = (
    "CREATE TABLE test_effect_log (what TEXT, row_id TEXT)",
    "CREATE TRIGGER test_ops_insert AFTER INSERT ON minting_operations"
    " BEGIN INSERT INTO test_effect_log VALUES ('INSERT', NEW.id); END",
    "CREATE TRIGGER test_ops_update AFTER UPDATE ON minting_operations"
    " BEGIN INSERT INTO test_effect_log VALUES ('UPDATE', NEW.id); END",
)  # a write to minting_operations and its log row commit (or vanish) together

# Apply a plan (Parquet) in a child: argv = config, plan, approvals (comma list), barrier folder or "-", name.
# Writes {barrier}/{name} when ready; with a barrier, waits until two children are ready (a real race).
APPLY_CHILD = r"""
import json, sys, time
from pathlib import Path
import pandas as pd
from reconcile_pipeline.repairs.apply import apply_plan
from reconcile_pipeline.settings import load_settings
config, plan_path, approve, barrier, name = sys.argv[1:6]
plan, settings = pd.read_parquet(plan_path), load_settings(config)
folder = Path(barrier)
(folder / name).touch()
while len(list(folder.iterdir())) < int(sys.argv[6]):
    time.sleep(0.005)
report = apply_plan(settings, plan, execute=True, approve=[a for a in approve.split(",") if a])
print(json.dumps(report.outcomes))
"""


class Effects:
    """Server-side record of the requests a world's KV, Pinata and R2 (moto) received after :meth:`install`."""

    def __init__(self) -> None:
        self.writes: Counter[tuple[str, str, str]] = Counter()  # (layer, method, key or CID)
        self.credentials: Counter[tuple[str, str, str]] = Counter()  # (layer, "read"|"write", credential)
        self.read_only: dict[str, set[str]] = {"kv": set(), "pinata": set(), "r2": set()}  # may only read
        self.accepted: dict[str, dict[str, str]] = {"kv": {}, "pinata": {}}  # extra token -> the server's own
        self.db_url: str | None = None
        self._lock = threading.Lock()

    def _add(self, counter: Counter, key: tuple) -> None:
        with self._lock:
            counter[key] += 1

    def install(self, world, db_url: str | None = None) -> Effects:
        """Wrap the world's servers; with a SQLite ``db_url``, also log every write to minting_operations."""
        servers = world.servers
        self._wrap_kv(servers.kv)
        self._wrap_pinata(servers.pinata)
        self._wrap_r2(servers.s3, servers.r2_bucket)
        self.db_url = db_url
        if db_url:
            with DatabaseClient(db_url) as db, db.connect(write=True) as conn:
                for statement in SQLITE_DB_LOG:
                    conn.exec_driver_sql(statement)
        return self

    def scope(self, layer: str, read_only: str, read_write: str | None = None, server_token: str = "") -> None:
        """Make ``read_only`` a read-only credential on ``layer``; accept ``read_write`` as a second, full one."""
        self.read_only[layer].add(read_only)
        if read_write and layer in self.accepted:
            self.accepted[layer][read_write] = server_token

    def _bearer(self, layer: str, request) -> str:
        """The request's bearer token; a second accepted token is swapped for the server's own (one token each)."""
        name = next((k for k in request.headers if k.lower() == "authorization"), "Authorization")
        token = request.headers.get(name, "").removeprefix("Bearer ")
        if token in self.accepted[layer]:
            request.headers[name] = f"Bearer {self.accepted[layer][token]}"
        return token

    def _wrap_kv(self, kv) -> None:
        route = kv.route

        def counted(request):
            token = self._bearer("kv", request)
            kind = "write" if request.method in ("PUT", "DELETE") else "read"
            self._add(self.credentials, ("kv", kind, token))
            if kind == "write" and token in self.read_only["kv"]:
                from reconcile_pipeline.sandbox.kv import CODE_AUTH, error_response

                return error_response(403, CODE_AUTH, "Authentication error: this token may only read")
            response = route(request)
            if kind == "write" and response.status < 300:
                self._add(self.writes, ("kv", request.method, request.path.rsplit("/values/", 1)[-1]))
            return response

        kv.route = counted

    def _wrap_pinata(self, pinata) -> None:
        route, store = pinata.route, pinata.store
        pin = store.pin

        def counted(request):
            token = self._bearer("pinata", request)
            kind = "write" if request.path.startswith("/pinning/") else "read"
            self._add(self.credentials, ("pinata", kind, token))
            if kind == "write" and token in self.read_only["pinata"]:
                from reconcile_pipeline.sandbox.httpserver import Response

                return Response.json({"error": {"reason": "NO_SCOPES_FOUND", "details": "read-only key"}}, 403)
            return route(request)

        def pinned(cid, *args, **kwargs):
            self._add(self.writes, ("pinata", "PIN", cid))
            return pin(cid, *args, **kwargs)

        pinata.route, store.pin = counted, pinned

    def _wrap_r2(self, s3, bucket: str) -> None:
        server = s3._moto._server  # werkzeug's server: wrap its WSGI app
        app = server.app

        def counted(environ, start_response):
            method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
            auth = environ.get("HTTP_AUTHORIZATION", "")
            key_id = auth.partition("Credential=")[2].partition("/")[0]
            kind = "write" if method in ("PUT", "DELETE") else "read"
            self._add(self.credentials, ("r2", kind, key_id))
            if kind == "write" and key_id in self.read_only["r2"]:
                body = b"<Error><Code>AccessDenied</Code><Message>read-only token</Message></Error>"
                start_response("403 Forbidden", [("Content-Type", "application/xml")])
                return [body]
            if kind == "write":
                self._add(self.writes, ("r2", method, path.removeprefix(f"/{bucket}/")))
            return app(environ, start_response)

        server.app = counted

    def write_counts(self) -> dict[tuple[str, str, str], int]:
        """Every write so far by (layer, method, key): KV, Pinata, R2 and (if logged) the database."""
        with self._lock:
            counts = dict(self.writes)
        if self.db_url:
            with DatabaseClient(self.db_url) as db, db.connect() as conn:
                for what, row_id, n in conn.exec_driver_sql(
                    "SELECT what, row_id, COUNT(*) FROM test_effect_log GROUP BY what, row_id"
                ):
                    counts[("database", what, row_id)] = n
        return counts

    def credentials_used(self, layer: str, kind: str) -> set[str]:
        with self._lock:
            return {cred for (name, k, cred) in self.credentials if name == layer and k == kind}


def _plain(value: object) -> object:
    return None if pd.api.types.is_scalar(value) and pd.isna(value) else value


def layer_state(world, settings) -> dict:
    """What repairs can write, normalised: KV (gateway URL masked), R2, pins, content, DB rows, source files."""
    import boto3

    servers = world.servers
    gateway = settings.ipfs.gateways[0].rstrip("/").encode()
    with DatabaseClient(settings.database.url.get_secret_value()) as db:
        ops = db.read_minting_operations().drop(columns=["created_at", "updated_at"]).sort_values("id")
    s3 = boto3.client("s3", endpoint_url=settings.blockstore.r2_endpoint_url, region_name="us-east-1",
                      aws_access_key_id=OBSERVER, aws_secret_access_key="x")  # fmt: skip
    bucket = settings.blockstore.r2_bucket
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {
        "kv": {k: servers.kv.value(k).replace(gateway, b"GW") for k in servers.kv.keys()},
        "r2": {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys},
        "ops": [{k: _plain(v) for k, v in op.items()} for op in ops.to_dict("records")],
        "files": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in world.assets_dir.iterdir()},
        "pins": sorted(p.cid for p in servers.store.pins()),
        "content": sorted(servers.store._objects),
    }


def ledger_rows(settings) -> list[dict]:
    with DatabaseClient(settings.database.url.get_secret_value()) as db:
        return Ledger(db, "test").rows()


def queue_rows(settings) -> list[dict]:
    with DatabaseClient(settings.database.url.get_secret_value()) as db:
        return Ledger(db, "test").queue(None)


def start_child(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A Python child (``args`` after the interpreter) in a new process group; output to ``log``.out/.err."""
    environment = os.environ | {"PYTHONPATH": str(ROOT)} | (env or {})
    out, err = open(f"{log}.out", "w"), open(f"{log}.err", "w")  # noqa: SIM115 - closed by the child's end
    child = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=environment, stdout=out, stderr=err,
                             start_new_session=True)  # fmt: skip
    out.close(), err.close()
    child.log = Path(str(log))  # type: ignore[attr-defined]
    return child


def output(child: subprocess.Popen) -> tuple[str, str]:
    """(stdout, stderr) of a finished child."""
    log = child.log  # type: ignore[attr-defined]
    return Path(f"{log}.out").read_text(), Path(f"{log}.err").read_text()


def kill(child: subprocess.Popen) -> None:
    """SIGKILL the child's process group (the child started it: new session) and reap the child."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=60)


def kill_after(child: subprocess.Popen, delay_s: float, ready: Path | None = None, timeout_s: float = 180) -> bool:
    """Kill ``child`` ``delay_s`` after it started (after ``ready`` exists, if given); False if it ended first."""
    deadline = time.monotonic() + timeout_s
    while ready is not None and not ready.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        child.wait(timeout=delay_s)
    except subprocess.TimeoutExpired:
        kill(child)
        return True
    return False
