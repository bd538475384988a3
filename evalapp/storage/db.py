"""Engines and migrations: any SQLAlchemy URL; SQLite tuned for many listeners on one process.

SQLite: WAL journal (readers never block the writer), a 30 s busy timeout, and ``BEGIN IMMEDIATE``
for write transactions, so concurrent submits queue for the write lock instead of failing with
"database is locked" when a deferred transaction tries to upgrade its read lock.
PostgreSQL (psycopg 3): a connection pool with pre-ping; migrations hold an advisory lock, so
several app processes starting at once migrate exactly once.
"""

from __future__ import annotations

import threading
import weakref
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from evalapp.errors import StorageError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
_ADVISORY_LOCK_ID = 0x4D555348  # "MUSH": serialises migrations across app processes


def safe_url(url: str) -> str:
    """The URL with any password masked (for messages and logs)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError):
        return "<unparseable URL>"


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine for ``url``; SQLite files get WAL, a busy timeout and immediate write transactions.

    Raises:
        StorageError: the URL is malformed, its driver is missing, or a SQLite folder is absent.
    """
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise StorageError(f"--db {url!r}: not a database URL ({exc})") from None
    backend = parsed.get_backend_name()
    try:
        if backend == "sqlite":
            db = parsed.database
            if db and db != ":memory:" and not db.startswith("file:"):
                folder = Path(db).expanduser().resolve().parent
                if not folder.is_dir():
                    raise StorageError(f"--db {safe_url(url)}: folder {folder} does not exist")
            engine = sa.create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                                                            "check_same_thread": False})
            _tune_sqlite(engine)
            return engine
        if backend == "postgresql" and parsed.get_driver_name() in ("psycopg2", "psycopg2cffi", ""):
            parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3 is the tested driver
        return sa.create_engine(parsed, pool_pre_ping=True, pool_size=pool_size, max_overflow=2 * pool_size)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise StorageError(f"--db {safe_url(url)}: cannot use this database ({exc})") from None


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised through every SQLite test
        # Let SQLAlchemy emit BEGIN itself (the driver's implicit BEGIN is always DEFERRED).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes (WAL), fast
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


# One lock per SQLite engine: threads of one process take turns for the write lock here instead of
# in SQLite's busy handler, which sleeps up to 100 ms between retries and so, with many concurrent
# submits, parks every worker thread in sleeps (measured: p95 10 s at 200 listeners). Other
# processes still meet the busy timeout.
_SQLITE_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()


@contextmanager
def write_transaction(engine: Engine):
    """A connection in a transaction that will write: ``BEGIN IMMEDIATE`` on SQLite."""
    if engine.dialect.name != "sqlite":
        with engine.connect() as conn, conn.begin():
            yield conn
        return
    lock = _SQLITE_WRITE_LOCKS.setdefault(engine, threading.Lock())
    with lock, engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            yield conn


def check_reachable(engine: Engine) -> None:
    """Raises StorageError (one line, password masked) when the database cannot be reached."""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise StorageError(f"--db {engine.url.render_as_string(hide_password=True)}: "
                           f"cannot connect ({reason[0] if reason else type(exc).__name__})") from None


def _alembic_config(connection):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config(None)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine) -> str:
    """Bring the schema to the newest revision (idempotent, safe with several processes).

    Returns:
        the revision now in the database.
    """
    from alembic import command

    check_reachable(engine)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_lock({_ADVISORY_LOCK_ID})")
                conn.commit()
            try:
                command.upgrade(_alembic_config(conn), "head")
                conn.commit()
            finally:
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_ADVISORY_LOCK_ID})")
                    conn.commit()
    except sa.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise StorageError(f"--db {engine.url.render_as_string(hide_password=True)}: migration failed "
                           f"({reason[0] if reason else type(exc).__name__})") from None
    return current_revision(engine) or ""
