"""Shared fixtures: a throwaway PostgreSQL server, and fresh databases on both backends.

- ``DAGSTER_HOME``: a temporary folder for the whole session (set at import; the CLI records runs there).
- ``postgres_url`` (session): ``RECONCILE_TEST_POSTGRES_URL`` if set (its role needs CREATEDB);
  else a temporary cluster started from Debian's server binaries (``/usr/lib/postgresql/*/bin``;
  as root through ``runuser -u postgres``), on 127.0.0.1, a free port, trust auth, stopped and
  deleted at the end; else the test is skipped (it fails instead when
  ``RECONCILE_TEST_REQUIRE_POSTGRES=1``, as ``.ci/run`` sets).
- ``pg_db_url``: a fresh, uniquely named database on that server for one test, dropped after.
- ``db_url``: parametrised over ``sqlite`` (a file under ``tmp_path``, not created yet) and
  ``postgresql`` (marked ``postgres``), so one suite runs over both backends.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

# The CLI records its runs in the Dagster instance DAGSTER_HOME names (else the repository's .dagster_home):
# the whole session, subprocesses included, uses a temporary home instead, never the repository or ~.
DAGSTER_TEST_HOME = Path(tempfile.mkdtemp(prefix="reconcile-dagster-home-"))
os.environ["DAGSTER_HOME"] = str(DAGSTER_TEST_HOME)

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin/initdb"
PG_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_bin_dir() -> Path | None:
    def version(initdb: str) -> int:
        name = Path(initdb).parents[1].name  # /usr/lib/postgresql/<version>/bin/initdb
        return int(name) if name.isdigit() else 0

    found = sorted(glob.glob(PG_BIN_GLOB), key=version)
    return Path(found[-1]).parent if found else None


class ThrowawayCluster:
    """A PostgreSQL cluster in a temporary folder, run as ``postgres`` when we are root."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="reconcile-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.root, user="postgres", group="postgres")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=self.root)
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr or done.stdout}\n{log}")

    def start(self) -> str:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        settings = PG_SETTINGS | {"unix_socket_directories": f"'{self.root}'"}
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        for attempt in range(3):  # a free port can be taken between probe and bind
            self.port = _free_port()
            try:
                self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", f"-p {self.port}", "-w", "start")
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _create_database(server_url: str, name: str) -> None:
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()


def _drop_database(server_url: str, name: str) -> None:
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def dagster_test_home() -> Iterator[Path]:
    """The session's temporary DAGSTER_HOME (set at import), removed at the end."""
    yield DAGSTER_TEST_HOME
    shutil.rmtree(DAGSTER_TEST_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL of a PostgreSQL database for this session (see the module docstring)."""
    given = os.environ.get("RECONCILE_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    bin_dir = _server_bin_dir()
    if bin_dir is None:
        message = f"no PostgreSQL server binaries ({PG_BIN_GLOB}) and RECONCILE_TEST_POSTGRES_URL unset"
        if os.environ.get("RECONCILE_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    cluster = ThrowawayCluster(bin_dir)
    try:
        server_url = cluster.start()
        _create_database(server_url, "reconcile_test")
        yield make_url(server_url).set(database="reconcile_test").render_as_string(hide_password=False)
    finally:
        cluster.stop()


@pytest.fixture
def pg_db_url(postgres_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards (even with open connections)."""
    server = make_url(postgres_url)
    admin_url = server.set(database="postgres").render_as_string(hide_password=False)
    name = f"rt_{uuid.uuid4().hex[:16]}"
    _create_database(admin_url, name)
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        _drop_database(admin_url, name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL on each backend; the SQLite file (and its folder) does not exist yet."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'reconcile.db'}"
    return request.getfixturevalue("pg_db_url")
