"""A learner's identity without the database: the resume code, its hash, the public id.

Kept apart from ``store.py`` so that the app can give a new visitor a learner (and its code in
the URL) before SQLAlchemy is even imported; ``Store.add_learner`` writes it afterwards.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/o, 1/l/i: a code read aloud is not misheard
CODE_LENGTH = 12  # 31**12 ≈ 2**59 codes: guessing one is hopeless
CODE = re.compile(f"^[{ALPHABET}]{{{CODE_LENGTH}}}$")
NAME_LENGTH = 80


def now() -> datetime:
    return datetime.now(timezone.utc)


def utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes: they were written in UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


@dataclass(frozen=True)
class Learner:
    id: str  # public id (folders, the teacher's view); never a way in
    name: str  # display name, "" when none was given
    created_at: datetime
    last_seen: datetime


def make_learner(name: str = "") -> tuple[Learner, str]:
    """A new learner and its resume code, not yet in any store (``Store.add_learner``)."""
    moment = now()
    return Learner(secrets.token_hex(6), name.strip()[:NAME_LENGTH], moment, moment), new_code()
