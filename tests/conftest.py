"""Shared fixtures: a throwaway PostgreSQL server, and fresh databases on both backends.

- ``DAGSTER_HOME``: a temporary folder for the whole session (set at import; the CLI records runs there).
- ``postgres_url`` (session): ``RECONCILE_TEST_POSTGRES_URL`` if set (its role needs CREATEDB);
  else a temporary cluster (``sandbox.postgres.ThrowawayCluster``) started from Debian's server
  binaries (``/usr/lib/postgresql/*/bin``; as root through ``runuser -u postgres``), on 127.0.0.1,
  a free port, trust auth, stopped and deleted at the end; else the test is skipped (it fails instead when
  ``RECONCILE_TEST_REQUIRE_POSTGRES=1``, as ``.ci/run`` sets).
- ``pg_db_url``: a fresh, uniquely named database on that server for one test, dropped after.
- ``db_url``: parametrised over ``sqlite`` (a file under ``tmp_path``, not created yet) and
  ``postgresql`` (marked ``postgres``), so one suite runs over both backends.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from reconcile_pipeline.sandbox.postgres import PG_BIN_GLOB, ThrowawayCluster
from reconcile_pipeline.sandbox.postgres import create_database as _create_database
from reconcile_pipeline.sandbox.postgres import drop_database as _drop_database
from reconcile_pipeline.sandbox.postgres import server_bin_dir as _server_bin_dir

# The CLI records its runs in the Dagster instance DAGSTER_HOME names (else the repository's .dagster_home):
# the whole session, subprocesses included, uses a temporary home instead, never the repository or ~.
DAGSTER_TEST_HOME = Path(tempfile.mkdtemp(prefix="reconcile-dagster-home-"))
os.environ["DAGSTER_HOME"] = str(DAGSTER_TEST_HOME)


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
