"""Where learners' work is kept: SQLite by default, any SQLAlchemy URL in ``PEFT_LAB_DB``.

``open_store()`` opens (and migrates) the store; ``Store`` holds learners, quiz answers and
kept documents; ``runs`` the lab runs; ``teacher`` the class view; ``codes`` a learner's code
and id, without the database. Never imports streamlit.

The names below load on first use: importing ``peft_edu.store.codes`` (a new visitor's first
page) does not import SQLAlchemy, 0.2-0.7 s of a class server's cold start.
"""
from __future__ import annotations

import importlib

_WHERE = {"StoreError": "engine", "data_dir": "engine", "default_url": "engine",
          "CODE": "codes", "Learner": "codes", "Store": "store", "open_store": "store"}

__all__ = ["CODE", "Learner", "Store", "StoreError", "data_dir", "default_url", "open_store"]


def __getattr__(name: str):
    if name not in _WHERE:  # a submodule (``from peft_edu.store import runs``) is found by the import system
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value
