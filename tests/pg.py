"""A throwaway PostgreSQL server for the store's tests: Debian's ``postgresql`` binaries
(``apt-get install postgresql``, done by scripts/test.sh), a fresh cluster in a temporary
folder on a free loopback port, stopped and deleted at the end of the test session.

``PEFT_LAB_TEST_PG`` (a SQLAlchemy URL of a server the tests may create databases on) is
used instead when set. Without either the PostgreSQL tests skip loudly; with CI=true a
missing server is a failure.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.server import free_port


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_postgres(args: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as Debian's postgres user."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _missing(message: str) -> None:
    message = f"POSTGRESQL TESTS CANNOT RUN: {message}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " — on CI a missing PostgreSQL is a failure")
    print("\n" + "!" * 70 + "\n" + message + "\n" + "!" * 70)
    pytest.skip(message)


@contextmanager
def throwaway_cluster():
    """Yields the SQLAlchemy URL of a fresh cluster's ``postgres`` database."""
    bin_dir = _binaries()
    if bin_dir is None:
        _missing("no PostgreSQL binaries (apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="peft-lab-pg-"))
    data, port = folder / "data", free_port()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    log = folder / "server.log"
    run = lambda args: subprocess.run(_as_postgres(args), check=True, capture_output=True, timeout=120)  # noqa: E731
    try:
        run([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
             "--no-sync", "--no-instructions"])
        run([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "start", "-o",
             f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"])
    except (subprocess.CalledProcessError, FileNotFoundError) as err:
        shutil.rmtree(folder, ignore_errors=True)
        _missing(f"the throwaway cluster did not start ({err}; {getattr(err, 'stderr', b'')[-500:]!r})")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server():
    """URL of a PostgreSQL server the tests may create databases on."""
    given = os.environ.get("PEFT_LAB_TEST_PG", "").strip()
    if given:
        yield given
        return
    with throwaway_cluster() as url:
        yield url


def fresh_database(server_url: str) -> str:
    """A new, empty database on the server; returns its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)
