"""Schema migrations with Alembic, driven from Python: no ``alembic.ini`` in the working folder.

    migrate("sqlite:///data/reconcile.db")        # creates data/ and the file, upgrades to head
    migrate("postgresql+psycopg2://u@host/db")    # idempotent: a second call changes nothing
    current_revision(url)                         # "0001", or None on an empty database

The revisions live in ``reconcile_pipeline/db/migrations/versions``. To write a new one, point an
Alembic ``Config`` at :data:`MIGRATIONS_DIR` and run ``alembic.command.revision(cfg,
autogenerate=True)`` against a database at head; ``tests/test_database.py`` asserts that the
models and the migrated schema agree. Connection failures raise the LayerError tree
(``LayerUnavailable``), as the database client does.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from .engine import make_engine, map_db_error, parse_db_url, sqlite_file

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK = 0x5EC0_0001  # advisory lock key: one migrator at a time per PostgreSQL database


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config for our revisions; with ``connection``, env.py runs on it."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migration revisions found"
    return head


def migrate(url: str, *, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision`` (default: head). Safe to call repeatedly."""
    parsed = parse_db_url(url)
    path = sqlite_file(parsed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(parsed)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            command.upgrade(alembic_config(conn), revision)
    except SQLAlchemyError as exc:
        raise map_db_error(exc, parsed) from exc
    finally:
        engine.dispose()


VERSION_TABLE = "reconcile_alembic_version"  # not alembic_version: Dagster may share the database


def current_revision(url: str) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    parsed = parse_db_url(url)
    path = sqlite_file(parsed)
    if path is not None and not path.exists():
        return None  # do not create the file just to look
    engine = make_engine(parsed)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()
    except SQLAlchemyError as exc:
        raise map_db_error(exc, parsed) from exc
    finally:
        engine.dispose()
