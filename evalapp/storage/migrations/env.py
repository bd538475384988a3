"""Alembic environment: runs on the connection evalapp hands over (``config.attributes``)."""

from alembic import context
from sqlalchemy import create_engine

from evalapp.storage.models import Base

connection = context.config.attributes.get("connection")


def _run(conn) -> None:
    context.configure(connection=conn, target_metadata=Base.metadata,
                      render_as_batch=conn.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:  # plain `alembic -c evalapp/storage/alembic.ini ...` with sqlalchemy.url set
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
    with engine.connect() as conn:
        _run(conn)
