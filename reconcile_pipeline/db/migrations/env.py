"""Alembic environment for reconcile-pipeline, driven programmatically by :mod:`reconcile_pipeline.db.migrate`.

No ``alembic.ini`` is needed: ``migrate()`` builds the Config and hands over an open connection
in ``config.attributes["connection"]``. For the ``alembic`` command line (e.g. to autogenerate a
new revision), set ``sqlalchemy.url`` and ``script_location`` in a Config of your own.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from reconcile_pipeline.db.migrate import VERSION_TABLE
from reconcile_pipeline.db.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite has no ALTER for most changes
        compare_type=True,
        version_table=VERSION_TABLE,  # not alembic_version: Dagster's storage may share the database
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        version_table=VERSION_TABLE,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
