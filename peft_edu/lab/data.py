"""The lab's data: the shipped "Did City win?" dataset, learner CSV uploads, tokenised batches.

``load_builtin()`` gives the train and test splits written by ``scripts/make_dataset.py``.
``read_upload(raw_bytes)`` turns a learner's CSV (columns ``text,label``) into the same
splits, or raises ``CSVProblem`` with a message that says what is wrong and how to fix it.
Texts are only ever tokenised: a cell such as ``=HYPERLINK(...)`` or ``<script>`` is kept as
plain text and never evaluated or rendered as HTML.
"""
from __future__ import annotations

import csv
import io
import random
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

DATA_DIR = Path(__file__).resolve().parents[2] / "assets" / "data"
BUILTIN_NAME = "Did City win? (football results)"

MAX_BYTES = 2_000_000  # uploads above 2 MB are refused: the lab trains for a minute, not an epoch of a corpus
MIN_ROWS = 20  # fewer rows cannot give both a training and a test split worth reading
MIN_PER_LABEL = 4  # each label needs examples in both splits
MAX_LABELS = 20  # more classes than this will not learn in a one-minute run
MAX_CHARS = 1000  # longer texts are cut (the model reads at most max_length tokens anyway)
TEST_FRACTION = 0.2  # share of each label held out as the test split of an upload


class CSVProblem(ValueError):
    """A learner's CSV cannot be used; ``str(err)`` is the message to show."""


@dataclass(frozen=True)
class Dataset:
    """One split: texts and integer labels, with the label names they index."""

    texts: tuple[str, ...]  # the sentences, exactly as given
    labels: tuple[int, ...]  # index into label_names, one per text
    label_names: tuple[str, ...]  # class names, in index order

    def __len__(self) -> int:
        return len(self.texts)


@dataclass(frozen=True)
class Upload:
    """A validated upload: its splits and the notes (not errors) worth telling the learner."""

    train: Dataset
    test: Dataset
    notes: tuple[str, ...]  # e.g. "3 texts longer than 1,000 characters were cut"


# ---------------------------------------------------------------- shipped dataset
def load_builtin() -> tuple[Dataset, Dataset]:
    """(train, test) of the shipped dataset; labels ("loss", "win") in that order."""
    train = _rows_from_text((DATA_DIR / "match_results_train.csv").read_text(encoding="utf-8"))
    test = _rows_from_text((DATA_DIR / "match_results_test.csv").read_text(encoding="utf-8"))
    names = _label_order({label for _, label in train} | {label for _, label in test})
    return _dataset(train, names), _dataset(test, names)


def _dataset(rows: list[tuple[str, str]], names: tuple[str, ...]) -> Dataset:
    index = {name: i for i, name in enumerate(names)}
    return Dataset(tuple(t for t, _ in rows), tuple(index[lab] for _, lab in rows), names)


def _label_order(labels: set[str]) -> tuple[str, ...]:
    """Numeric labels in numeric order ("2" before "10"), others alphabetically."""
    if all(_is_number(lab) for lab in labels):
        return tuple(sorted(labels, key=float))
    return tuple(sorted(labels))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------- uploads
def read_upload(raw: bytes, seed: int = 0) -> Upload:
    """Validate a CSV upload and split it (stratified, ``TEST_FRACTION`` held out).

    Raises ``CSVProblem`` for: empty or oversized files, binary files, text that is not
    UTF-8, no ``text``/``label`` columns, malformed CSV, too few rows, a single label, too
    many labels or too few examples of one label.
    """
    text = decode(raw)
    rows, notes = parse_rows(text)
    check_rows(rows)
    train, test = stratified_split(rows, seed)
    return Upload(train, test, tuple(notes))


def decode(raw: bytes) -> str:
    """UTF-8 (with or without a byte-order mark) to str, or a CSVProblem saying why not."""
    if not raw or not raw.strip():
        raise CSVProblem("The file is empty. Upload a CSV with a header row 'text,label' and one example per line.")
    if len(raw) > MAX_BYTES:
        raise CSVProblem(f"The file is {len(raw):,} bytes; the limit is {MAX_BYTES:,} bytes (2 MB). "
                         "Upload a smaller sample of your data.")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CSVProblem("The file is UTF-16 text. Save it as 'CSV UTF-8' and upload it again.")
    if b"\x00" in raw[:8192] or raw.startswith(b"PK\x03\x04"):
        raise CSVProblem("This looks like a binary file (for example an Excel .xlsx workbook), not a CSV. "
                         "Export it as 'CSV UTF-8 (comma delimited)' and upload that.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise CSVProblem(f"The file is not UTF-8 text (byte 0x{raw[err.start]:02x} at position {err.start:,}). "
                         "Save it with UTF-8 encoding ('CSV UTF-8' in Excel) and upload it again.") from None


def parse_rows(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(text, label) rows and notes; blank rows are skipped, overlong texts cut."""
    rows = _rows_from_text(text)
    notes = []
    kept = [(t.strip(), lab.strip()) for t, lab in rows if t.strip() and lab.strip()]
    if len(kept) < len(rows):
        notes.append(f"{len(rows) - len(kept):,} row(s) with an empty text or label were skipped.")
    long = sum(len(t) > MAX_CHARS for t, _ in kept)
    if long:
        notes.append(f"{long:,} text(s) longer than {MAX_CHARS:,} characters were cut to that length.")
    return [(t[:MAX_CHARS], lab) for t, lab in kept], notes


def _rows_from_text(text: str) -> list[tuple[str, str]]:
    """Rows of the 'text' and 'label' columns (case-insensitive, any column order)."""
    try:
        reader = csv.reader(io.StringIO(text, newline=""), dialect=_dialect(text))
        header = next(reader, [])
        names = [h.strip().lower() for h in header]
        missing = [c for c in ("text", "label") if c not in names]
        if missing:
            raise CSVProblem(f"Missing column(s): {', '.join(missing)}. The first row must name the columns "
                             f"'text' and 'label'; found: {', '.join(repr(h) for h in header) or 'nothing'}.")
        i_text, i_label = names.index("text"), names.index("label")
        return [(_cell(row, i_text), _cell(row, i_label)) for row in reader if any(c.strip() for c in row)]
    except csv.Error as err:
        raise CSVProblem(f"The CSV could not be read ({err}). Check for unbalanced quotes "
                         "or a text cell of more than 131,072 characters.") from None


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    """Comma by default; semicolon or tab when the header uses them (Excel in some locales)."""
    header = text.split("\n", 1)[0]
    for delimiter in (";", "\t"):
        if delimiter in header and "," not in header:
            return csv.excel_tab if delimiter == "\t" else _Semicolon()
    return csv.excel


class _Semicolon(csv.excel):
    delimiter = ";"


def _cell(row: list[str], i: int) -> str:
    return row[i] if i < len(row) else ""


def check_rows(rows: list[tuple[str, str]]) -> None:
    """Enough rows, 2..MAX_LABELS labels, MIN_PER_LABEL examples of each."""
    if len(rows) < MIN_ROWS:
        raise CSVProblem(f"Only {len(rows):,} usable row(s); at least {MIN_ROWS} are needed "
                         "(some become the test split).")
    counts: dict[str, int] = {}
    for _, label in rows:
        counts[label] = counts.get(label, 0) + 1
    if len(counts) < 2:
        raise CSVProblem(f"Every row has the label {next(iter(counts))!r}; a classifier needs at least two labels.")
    if len(counts) > MAX_LABELS:
        raise CSVProblem(f"{len(counts):,} different labels; the lab handles at most {MAX_LABELS}. "
                         "Is the 'label' column really a class name?")
    rare = sorted(label for label, n in counts.items() if n < MIN_PER_LABEL)
    if rare:
        raise CSVProblem(f"Label(s) {', '.join(repr(r) for r in rare[:5])} have fewer than {MIN_PER_LABEL} "
                         "examples; add examples or remove those rows.")


def stratified_split(rows: list[tuple[str, str]], seed: int = 0) -> tuple[Dataset, Dataset]:
    """Hold out TEST_FRACTION of every label (at least one) as the test split."""
    names = _label_order({label for _, label in rows})
    rng = random.Random(seed)
    train, test = [], []
    for name in names:
        group = [row for row in rows if row[1] == name]
        rng.shuffle(group)
        n_test = max(1, round(TEST_FRACTION * len(group)))
        test += group[:n_test]
        train += group[n_test:]
    rng.shuffle(train)
    rng.shuffle(test)
    return _dataset(train, names), _dataset(test, names)


# ---------------------------------------------------------------- tokens and batches
TOKENIZER_LOCK = threading.Lock()  # fast tokenizers are not safe to call from two threads at once
_TOKENIZER_LOCK = TOKENIZER_LOCK  # old name


@dataclass(frozen=True)
class Encoded:
    """A whole split as padded tensors; ``batch`` trims each batch to its longest text."""

    input_ids: torch.Tensor  # (N, T) token ids, right-padded
    attention_mask: torch.Tensor  # (N, T) 1 for real tokens
    labels: torch.Tensor  # (N,) class indices

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """Rows ``idx``, cut to the longest text among them (less padding, faster steps)."""
        mask = self.attention_mask[idx]  # (b, T)
        length = int(mask.sum(dim=1).max())
        return {"input_ids": self.input_ids[idx, :length], "attention_mask": mask[:, :length],
                "labels": self.labels[idx]}


def encode(tokenizer, dataset: Dataset, max_length: int = 64) -> Encoded:
    """Tokenise every text once (truncated to max_length tokens)."""
    with TOKENIZER_LOCK:
        enc = tokenizer(list(dataset.texts), padding=True, truncation=True, max_length=max_length,
                        return_tensors="pt")
    return Encoded(enc["input_ids"], enc["attention_mask"], torch.tensor(dataset.labels, dtype=torch.long))


_ENCODED: dict[tuple, tuple[object, Encoded]] = {}  # (tokenizer id, split, max_length) -> tensors, shared by runs
_ENCODED_LOCK = threading.Lock()
_ENCODED_MAX = 16  # oldest entries go first; uploads of many sessions must not pile up


def encode_cached(tokenizer, dataset: Dataset, max_length: int = 64) -> Encoded:
    """``encode`` once per (tokenizer, split, max_length); later runs reuse the tensors.

    The tensors are shared and must be treated as read-only (``Encoded.batch`` copies rows).
    """
    key = (id(tokenizer), dataset, max_length)
    with _ENCODED_LOCK:
        hit = _ENCODED.get(key)
    if hit is not None and hit[0] is tokenizer:  # the same tokenizer, not a new one at a reused id
        return hit[1]
    enc = encode(tokenizer, dataset, max_length)
    with _ENCODED_LOCK:
        _ENCODED[key] = (tokenizer, enc)
        while len(_ENCODED) > _ENCODED_MAX:
            _ENCODED.pop(next(iter(_ENCODED)))
    return enc


def batch_indices(n: int, batch_size: int, seed: int):
    """Endless shuffled mini-batches of row indices: a new permutation every epoch."""
    generator = torch.Generator().manual_seed(seed)  # own RNG: runs in other threads do not disturb it
    while True:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1 if n >= batch_size else 1, batch_size):
            yield order[start:start + batch_size]
