"""Engines and error mapping shared by the database client and the migrations.

:func:`make_engine` gives an engine with a connect timeout, a JSON serialiser that accepts numpy
scalars and datetimes, and foreign keys enforced on SQLite. :func:`map_db_error` translates a
SQLAlchemy error into the LayerError tree at the boundary; passwords never appear in messages
(URLs are rendered with ``hide_password=True`` and the password is scrubbed from driver text):

    OperationalError / InterfaceError   refused, reset, unknown host  -> LayerConnectError
                                        connect or lock timeout       -> LayerTimeout
                                        password / role refused       -> LayerAuthError
    missing table or column (not migrated)                            -> LayerDataError (hint: migrate)
    other database refusals (constraints, bad data)                   -> LayerDataError
    bad input (unknown column, naive datetime)                        -> ValueError
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url

from ..layers.errors import LayerAuthError, LayerConnectError, LayerDataError, LayerTimeout

LAYER = "database"
MIGRATE_HINT = "run migrations first: `reconcile_pipeline.db.migrate.migrate(url)`"

_MISSING_SCHEMA_CODES = {"42P01", "42703"}  # undefined_table, undefined_column
_AUTH_CODES = {"28P01", "28000"}  # invalid_password, invalid_authorization_specification
_AUTH_WORDS = ("authentication failed", "no pg_hba.conf entry", 'role "')
_TIMEOUT_WORDS = ("timeout expired", "timed out", "database is locked", "statement timeout")


def parse_db_url(url: str | URL) -> URL:
    """Parse a SQLAlchemy URL; the error never echoes the URL (it may hold a password)."""
    try:
        return make_url(url)
    except (sa_exc.ArgumentError, ValueError):
        raise ValueError("invalid database URL (expected e.g. sqlite:///data/reconcile.db)") from None


def sqlite_file(url: URL) -> Path | None:
    """The file of a file-backed SQLite URL, else None (memory databases, URI form, other backends)."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return None if url.database.startswith("file:") else Path(url.database)


def _json_safe(value: Any) -> Any:
    """Plain JSON: NaN/inf become null (PostgreSQL's json refuses them), numpy scalars become Python."""
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [_json_safe(item) for item in items]
    if hasattr(value, "item") and not isinstance(value, str | bytes):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def json_dumps(value: Any) -> str:
    return json.dumps(_json_safe(value), default=str, allow_nan=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str | URL, *, connect_timeout_s: float = 10) -> Engine:
    parsed = parse_db_url(url)
    backend = parsed.get_backend_name()
    connect_args: dict[str, Any] = {}
    if backend == "postgresql":
        connect_args["connect_timeout"] = max(1, math.ceil(connect_timeout_s))
    elif backend == "sqlite":
        connect_args["timeout"] = connect_timeout_s
    engine = create_engine(parsed, connect_args=connect_args, pool_pre_ping=True, json_serializer=json_dumps)
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _detail(exc: BaseException, password: str | None) -> str:
    source = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
    lines = [line.strip() for line in str(source).splitlines() if line.strip()]
    text = lines[0] if lines else type(source).__name__
    return text.replace(password, "***") if password else text


INSUFFICIENT_PRIVILEGE = "42501"


def map_db_error(exc: Exception, url: URL) -> Exception:
    """Translate a SQLAlchemy error into the LayerError tree (or ValueError for bad input)."""
    where = url.render_as_string(hide_password=True)
    detail = _detail(exc, url.password)
    lowered = detail.lower()
    if not isinstance(exc, sa_exc.DBAPIError):
        if isinstance(exc, sa_exc.TimeoutError):
            return LayerTimeout(f"no free connection in the pool: {detail}", layer=LAYER, where=where)
        return ValueError(f"bad input for the database at {where}: {detail}")
    code = getattr(exc.orig, "pgcode", None)
    if code in _MISSING_SCHEMA_CODES or "no such table" in lowered or "no such column" in lowered:
        return LayerDataError(f"schema missing or out of date ({detail}); {MIGRATE_HINT}", layer=LAYER, where=where)
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError) or exc.connection_invalidated:
        if code in _AUTH_CODES or any(word in lowered for word in _AUTH_WORDS):
            return LayerAuthError(f"credentials refused: {detail}", layer=LAYER, where=where)
        if any(word in lowered for word in _TIMEOUT_WORDS):
            return LayerTimeout(f"timed out: {detail}", layer=LAYER, where=where)
        return LayerConnectError(f"cannot reach the database: {detail}", layer=LAYER, where=where)
    if code == INSUFFICIENT_PRIVILEGE:  # our role may not write there: credentials, not data
        return LayerAuthError(f"permission denied: {detail}", layer=LAYER, where=where)
    return LayerDataError(f"the database refused the statement: {detail}", layer=LAYER, where=where)
