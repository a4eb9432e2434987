"""The Semantic search lab's data: the shipped help-desk set, learners' uploads, batches.

``load_builtin()`` reads what ``scripts/make_retrieval.py`` writes: a corpus of passages and
training / held-out questions, each with its one relevant passage. ``read_upload(raw)`` turns
a learner's ``query,passage`` CSV into the same shape, or raises ``CSVProblem`` (the lab's,
``peft_edu.lab.data``) with a message that says what is wrong and how to fix it. Texts are
only ever tokenised, never evaluated or rendered as HTML.
"""
from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass

import torch

from peft_edu.lab.data import DATA_DIR, MAX_CHARS, CSVProblem, decode

BUILTIN_NAME = "Help-desk questions (shipped)"
MIN_ROWS = 20  # fewer pairs cannot give a training split and a held-out split worth reading
MAX_ROWS = 5_000  # a one-minute run cannot use more (and the whole corpus is embedded twice)
MIN_PASSAGES = 10  # retrieval among fewer passages says nothing
TEST_FRACTION = 0.2  # share of the passages whose questions are held out
COLUMNS = ("query", "passage")


@dataclass(frozen=True)
class RetrievalSet:
    """A corpus and questions; ``*_relevant[i]`` indexes the corpus passage of question i."""

    corpus: tuple[str, ...]  # every passage the search ranks, held-out questions' passages included
    train_queries: tuple[str, ...]
    train_relevant: tuple[int, ...]
    test_queries: tuple[str, ...]  # never in training; their passages have no training question
    test_relevant: tuple[int, ...]
    notes: tuple[str, ...] = ()  # what an upload's validation changed (not errors)


# ---------------------------------------------------------------- shipped set
def load_builtin() -> RetrievalSet:
    """The shipped help-desk set (1,200 passages, 400 training and 120 held-out questions)."""
    corpus = tuple(row[0] for row in _read(DATA_DIR / "retrieval_corpus.csv", ("passage",)))
    index = {p: i for i, p in enumerate(corpus)}
    train = _read(DATA_DIR / "retrieval_train.csv", COLUMNS)
    test = _read(DATA_DIR / "retrieval_test.csv", COLUMNS)
    return RetrievalSet(corpus, tuple(q for q, _ in train), tuple(index[p] for _, p in train),
                        tuple(q for q, _ in test), tuple(index[p] for _, p in test))


def _read(path, columns: tuple[str, ...]) -> list[tuple[str, ...]]:
    return _rows(path.read_text(encoding="utf-8"), columns)


def _rows(text: str, columns: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Rows of the named columns (case-insensitive, any order, comma / semicolon / tab)."""
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
        header = next(reader, [])
        names = [h.strip().lower() for h in header]
        missing = [c for c in columns if c not in names]
        if missing:
            raise CSVProblem(f"Missing column(s): {', '.join(missing)}. The first row must name the columns "
                             f"{' and '.join(repr(c) for c in columns)}; found: "
                             f"{', '.join(repr(h) for h in header) or 'nothing'}.")
        at = [names.index(c) for c in columns]
        return [tuple(row[i] if i < len(row) else "" for i in at) for row in reader if any(c.strip() for c in row)]
    except csv.Error as err:
        raise CSVProblem(f"The CSV could not be read ({err}). Check for unbalanced quotes.") from None


def _delimiter(text: str) -> str:
    """Comma by default; semicolon or tab when the header uses them (Excel in some locales)."""
    header = text.split("\n", 1)[0]
    for delimiter in (";", "\t"):
        if delimiter in header and "," not in header:
            return delimiter
    return ","


# ---------------------------------------------------------------- uploads
def read_upload(raw: bytes, seed: int = 0) -> RetrievalSet:
    """Validate a learner's ``query,passage`` CSV and split it by passage.

    Raises ``CSVProblem`` for an empty, oversized, binary or non-UTF-8 file, missing columns,
    malformed CSV, too few or too many pairs, or too few distinct passages. Blank rows, exact
    duplicate pairs and a question repeated with another passage are dropped with a note."""
    if not raw or not raw.strip():
        raise CSVProblem("The file is empty. Upload a CSV with a header row 'query,passage' and one pair per line.")
    rows, notes = _clean(_rows(decode(raw), COLUMNS))
    if len(rows) < MIN_ROWS:
        raise CSVProblem(f"Only {len(rows):,} usable pair(s); at least {MIN_ROWS} are needed "
                         "(a fifth become the held-out questions).")
    if len(rows) > MAX_ROWS:
        raise CSVProblem(f"{len(rows):,} pairs; the lab takes at most {MAX_ROWS:,}. Upload a sample.")
    corpus = tuple(dict.fromkeys(p for _, p in rows))
    if len(corpus) < MIN_PASSAGES:
        raise CSVProblem(f"Only {len(corpus)} different passage(s); a search needs at least {MIN_PASSAGES} "
                         "to choose from.")
    return _split(rows, corpus, seed, tuple(notes))


def _clean(rows: list[tuple[str, ...]]) -> tuple[list[tuple[str, str]], list[str]]:
    """Strip, cut overlong texts, drop blanks and duplicates; say what was changed."""
    notes = []
    kept = [(q.strip()[:MAX_CHARS], p.strip()[:MAX_CHARS]) for q, p in rows if q.strip() and p.strip()]
    if len(kept) < len(rows):
        notes.append(f"{len(rows) - len(kept):,} row(s) with an empty query or passage were skipped.")
    long = sum(len(q.strip()) > MAX_CHARS or len(p.strip()) > MAX_CHARS for q, p in rows)
    if long:
        notes.append(f"{long:,} row(s) had a text longer than {MAX_CHARS:,} characters, cut to that length.")
    unique = list(dict.fromkeys(kept))
    if len(unique) < len(kept):
        notes.append(f"{len(kept) - len(unique):,} duplicate pair(s) were dropped: a copy inside a batch "
                     "is a false negative for the ranking loss.")
    first: dict[str, str] = {}
    for q, p in unique:
        first.setdefault(q, p)
    if len(first) < len(unique):
        notes.append(f"{len(unique) - len(first):,} question(s) appeared with another passage too; "
                     "only the first passage was kept (each question has one relevant passage here).")
    return list(first.items()), notes


def _split(rows: list[tuple[str, str]], corpus: tuple[str, ...], seed: int, notes: tuple[str, ...]) -> RetrievalSet:
    """Hold out the questions of TEST_FRACTION of the passages (at least one)."""
    index = {p: i for i, p in enumerate(corpus)}
    asked = sorted(set(index[p] for _, p in rows))
    random.Random(seed).shuffle(asked)
    held = set(asked[: max(1, round(TEST_FRACTION * len(asked)))])
    train = [(q, index[p]) for q, p in rows if index[p] not in held]
    test = [(q, index[p]) for q, p in rows if index[p] in held]
    return RetrievalSet(corpus, tuple(q for q, _ in train), tuple(i for _, i in train),
                        tuple(q for q, _ in test), tuple(i for _, i in test), notes)


# ---------------------------------------------------------------- batches
def pair_batches(relevant: tuple[int, ...], batch_size: int, seed: int, copies: int = 1):
    """Endless batches of training-pair indices, a new shuffle every epoch.

    ``copies=1``: no passage twice in a batch (like sentence-transformers'
    NoDuplicatesBatchSampler) — a second copy would be a false negative. ``copies > 1`` is the
    page's trap: ``batch_size // copies`` pairs, each repeated ``copies`` times in the batch."""
    generator = torch.Generator().manual_seed(seed)  # own RNG: other threads' runs do not disturb it
    distinct = max(1, batch_size // copies)
    while True:
        pending = [int(i) for i in torch.randperm(len(relevant), generator=generator)]
        while len(pending) >= distinct:
            batch, pending = _no_duplicates(pending, relevant, distinct)
            if len(batch) < distinct:
                break
            yield [i for i in batch for _ in range(copies)]


def _no_duplicates(pending: list[int], relevant: tuple[int, ...], size: int) -> tuple[list[int], list[int]]:
    """Take up to ``size`` pairs with distinct passages from ``pending``; the rest wait."""
    batch, seen, rest = [], set(), []
    for i in pending:
        if len(batch) < size and relevant[i] not in seen:
            batch.append(i)
            seen.add(relevant[i])
        else:
            rest.append(i)
    return batch, rest
