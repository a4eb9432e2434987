"""Where learners' work is kept: SQLite by default, any SQLAlchemy URL in ``PEFT_LAB_DB``.

``open_store()`` opens (and migrates) the store; ``Store`` holds learners, quiz answers and
kept documents; ``runs`` the lab runs; ``teacher`` the class view. Never imports streamlit.
"""
from peft_edu.store.engine import StoreError, data_dir, default_url
from peft_edu.store.store import CODE, Learner, Store, open_store

__all__ = ["CODE", "Learner", "Store", "StoreError", "data_dir", "default_url", "open_store"]
