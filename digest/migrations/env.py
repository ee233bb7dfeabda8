"""Alembic environment: migrations run on the connection digest.store.migrate passes in."""

from __future__ import annotations

from alembic import context

from digest.store import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only used by `alembic` on the command line
    from sqlalchemy import create_engine

    connection = create_engine(context.config.get_main_option("sqlalchemy.url") or "").connect()



def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Leave alone the tables other libraries own (APScheduler's job store)."""
    return not (type_ == "table" and name == "apscheduler_jobs")


context.configure(
    connection=connection,
    target_metadata=metadata,
    include_object=include_object,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
