"""Where the store lives and how it is opened: the URL, the engine, Alembic at start-up.

- ``PEFT_LAB_DB``: any SQLAlchemy URL (``postgresql+psycopg://user:pw@host/db`` for a class
  server). Unset: a SQLite file ``peft_lab.sqlite3`` in the data folder (``PEFT_LAB_DATA``,
  default ``data/`` beside the app), created on first start.
- ``open_engine(url)`` runs the migrations to the newest schema before anything reads.
- A SQLite file that is not a database (corrupt, truncated) is moved aside and a fresh one
  is started, with a message saying so; a server that cannot be reached raises
  ``StoreError`` with one sentence for the learner, never a traceback.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError
from sqlalchemy.pool import StaticPool

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
DB_FILE = "peft_lab.sqlite3"


class StoreError(RuntimeError):
    """The store cannot be opened; the message says why, in one sentence."""


def data_dir() -> Path:
    """The data folder: the SQLite file and the adapters (``PEFT_LAB_DATA``, default ``data/``)."""
    return Path(os.environ.get("PEFT_LAB_DATA", "").strip() or ROOT / "data")


def default_url() -> str:
    return os.environ.get("PEFT_LAB_DB", "").strip() or f"sqlite:///{data_dir() / DB_FILE}"


def _sqlite_setup(engine: Engine) -> None:
    """WAL (readers never wait for a writer), a 30 s busy wait, and BEGIN IMMEDIATE: a write
    transaction takes the lock at its start, so two writers queue instead of one failing."""
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # the "begin" hook below starts transactions
        cursor = dbapi_conn.cursor()
        for pragma in ("journal_mode=WAL", "busy_timeout=30000", "foreign_keys=ON", "synchronous=NORMAL"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _normalise(url: str) -> str:
    """``postgres://`` and ``postgresql://`` mean psycopg 3 here (the driver this app installs)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def _create(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        memory = {"poolclass": StaticPool} if database in ("", ":memory:") else {}  # one shared memory db
        if not memory:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # a class's sessions each hold a connection for a moment: the default pool (5 + 10) ran out
        # under the 100-session load test (QueuePool limit reached); file connections are cheap
        pool = {} if memory else {"pool_size": 10, "max_overflow": 50, "pool_timeout": 60}
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **memory, **pool)
        _sqlite_setup(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=30)


HEAD_REVISION = "0002"  # the newest file in migrations/versions (tests/test_store.py checks it against Alembic)


def at_head(engine: Engine) -> bool:
    """True when the database's schema is already at ``HEAD_REVISION`` (nothing to migrate)."""
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD_REVISION
    except DatabaseError:  # no alembic_version table yet: a new database
        return False


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema to Alembic's head revision. A database already at the head
    is left alone without loading Alembic (0.7 s of imports: a class server's cold start)."""
    if at_head(engine):
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def _check(engine: Engine) -> None:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            found = conn.exec_driver_sql("PRAGMA quick_check").scalar()
            if found != "ok":
                raise DatabaseError("PRAGMA quick_check", {}, Exception(found))
        else:
            conn.execute(text("SELECT 1"))


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _move_aside(path: Path) -> Path:
    aside = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
    path.rename(aside)
    for extra in ("-wal", "-shm"):
        Path(f"{path}{extra}").unlink(missing_ok=True)
    return aside


def open_engine(url: str) -> tuple[Engine, str]:
    """(engine with the newest schema, notice); the notice says what was repaired, if anything."""
    url = _normalise(url)
    try:
        engine = _create(url)
    except (ArgumentError, ImportError, ValueError) as err:
        raise StoreError(f"PEFT_LAB_DB is not a usable database URL ({err}).") from None
    try:
        _check(engine)
        migrate(engine)
        return engine, ""
    except (DatabaseError, OperationalError) as err:
        engine.dispose()
        path = _sqlite_file(url)
        reason = str(getattr(err, "orig", err)).splitlines()[0]
        if path is None or not path.exists():
            raise StoreError(f"The database at {make_url(url).render_as_string(hide_password=True)} "
                             f"cannot be used: {reason}.") from None
        aside = _move_aside(path)
    engine = _create(url)
    migrate(engine)
    return engine, (f"The saved data could not be read ({reason}): the file was kept as {aside.name} "
                    "and a fresh, empty store was started.")
