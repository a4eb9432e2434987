"""Fixtures: a fresh store on each kind of database (a SQLite file, a real PostgreSQL server
from tests/pg.py), for the library (``store_url``) and for the app (``app_store``)."""
from __future__ import annotations

import pytest

from peft_edu.store import open_store
from tests.pg import fresh_database, postgres_server  # noqa: F401  (a fixture)

KINDS = ["sqlite", "postgresql"]


@pytest.fixture(params=KINDS)
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lab.sqlite3'}"
    return fresh_database(request.getfixturevalue("postgres_server"))


@pytest.fixture
def app_store(store_url, tmp_path, monkeypatch):
    """The app's store (ui.learner, opened once per process) on a fresh database; yields the
    test's own handle on the same database."""
    from ui import learner

    monkeypatch.setenv("PEFT_LAB_DB", store_url)
    monkeypatch.setenv("PEFT_LAB_DATA", str(tmp_path / "data"))
    learner._open.clear()
    store = open_store(store_url, tmp_path / "data")
    yield store
    store.close()
    learner._open.clear()


def written(find, key: str, timeout: float = 30):
    """``find(key)`` (``store.learner`` by id, ``store.find`` by code) once the app has written
    the learner: a new visitor's first page that needs no store (home) leaves the write to a
    thread that runs after the page run (ui/learner.py)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = find(key)
        if found is not None:
            return found
        time.sleep(0.05)
    raise AssertionError(f"learner {key} was not written within {timeout} s")
