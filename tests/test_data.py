"""The lab's data: the shipped dataset and the validation of learners' CSV uploads."""
import csv
import io
import sys

import pytest
import torch

from peft_edu.lab import data
from peft_edu.lab.data import CSVProblem, encode_cached, load_builtin, read_upload
from tests.conftest import ROOT
from tests.tiny import WordTokenizer


def csv_bytes(rows, header=("text", "label"), encoding="utf-8"):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def good_rows(n=40, labels=("pos", "neg")):
    return [(f"sentence number {i}", labels[i % len(labels)]) for i in range(n)]


# ---------------------------------------------------------------- shipped dataset
def test_builtin_dataset_size_balance_and_disjoint_splits():
    train, test = load_builtin()
    assert len(train) >= 600 and len(test) >= 200
    assert train.label_names == test.label_names == ("loss", "win")
    assert abs(train.labels.count(0) - train.labels.count(1)) <= 1
    assert abs(test.labels.count(0) - test.labels.count(1)) <= 1
    assert not set(train.texts) & set(test.texts)


def test_builtin_word_order_decides_the_label():
    """The same words in another order flip the label: a bag of words cannot solve the task."""
    train, _ = load_builtin()
    label_of = dict(zip(train.texts, train.labels))
    swapped = {t.replace("City", "\0").replace("Rovers", "City").replace("\0", "Rovers"): y
               for t, y in label_of.items() if "Rovers" in t}
    pairs = [(label_of[t], y) for t, y in swapped.items() if t in label_of]
    assert pairs and all(a != b for a, b in pairs)


def test_make_dataset_regenerates_the_shipped_files(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import make_dataset
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    monkeypatch.setattr(make_dataset, "OUT_DIR", tmp_path)
    make_dataset.main()
    for name in ("match_results_train.csv", "match_results_test.csv"):
        assert (tmp_path / name).read_bytes() == (data.DATA_DIR / name).read_bytes()


# ---------------------------------------------------------------- uploads that work
def test_good_upload_is_split_stratified():
    upload = read_upload(csv_bytes(good_rows(40)))
    assert len(upload.train) + len(upload.test) == 40
    assert upload.train.label_names == ("neg", "pos")
    assert sorted(upload.test.labels) == [0] * 4 + [1] * 4
    assert upload.notes == ()


def test_bom_semicolons_column_order_and_case_are_accepted():
    text = "Label;TEXT\n" + "".join(f"{'a' if i % 2 else 'b'};text {i}\n" for i in range(30))
    upload = read_upload(b"\xef\xbb\xbf" + text.encode())
    assert upload.train.label_names == ("a", "b") and len(upload.train) + len(upload.test) == 30


def test_formula_and_html_cells_stay_plain_text():
    rows = good_rows(38) + [("=HYPERLINK(\"http://x\")", "pos"), ("<script>alert(1)</script>", "neg")]
    upload = read_upload(csv_bytes(rows))
    texts = upload.train.texts + upload.test.texts
    assert "=HYPERLINK(\"http://x\")" in texts and "<script>alert(1)</script>" in texts


# ---------------------------------------------------------------- uploads that fail, each with its message
@pytest.mark.parametrize("raw, needle", [
    (b"", "empty"),
    (b"x" * (data.MAX_BYTES + 1), "limit is 2,000,000 bytes"),
    ("text,label\n".encode("utf-16"), "UTF-16"),
    (b"PK\x03\x04" + b"\x00" * 100, "binary file"),
    ("text,label\ncaf\u00e9,a\n".encode("latin-1"), "not UTF-8"),
    (csv_bytes(good_rows(30), header=("sentence", "label")), "Missing column(s): text"),
    (csv_bytes(good_rows(30), header=("sentence", "class")), "Missing column(s): text, label"),
    (csv_bytes(good_rows(30, labels=("same",))), "at least two labels"),
    (csv_bytes(good_rows(10)), "at least 20 are needed"),
    (csv_bytes([(f"t{i}", str(i)) for i in range(40)]), "at most 20"),
    (csv_bytes(good_rows(30) + [("rare one", "rare")]), "fewer than 4"),
    (b'text,label\n"unclosed,a\n' + b"x" * 200_000 + b"\n", "could not be read"),
])
def test_bad_upload_gets_a_clear_message(raw, needle):
    with pytest.raises(CSVProblem) as err:
        read_upload(raw)
    assert needle in str(err.value)


def test_overlong_texts_are_cut_with_a_note():
    rows = good_rows(30) + [("word " * 500, "pos")]
    upload = read_upload(csv_bytes(rows))
    texts = upload.train.texts + upload.test.texts
    assert max(len(t) for t in texts) == data.MAX_CHARS
    assert any("1 text(s) longer than 1,000 characters were cut" in n for n in upload.notes)


def test_blank_rows_are_skipped_with_a_note():
    rows = good_rows(30) + [("", "pos"), ("no label", "")]
    upload = read_upload(csv_bytes(rows))
    assert len(upload.train) + len(upload.test) == 30
    assert any("2 row(s) with an empty text or label" in n for n in upload.notes)


# ---------------------------------------------------------------- tokenising once
def test_encode_cached_tokenises_once_per_split():
    tok = WordTokenizer()
    small = data.Dataset(("good film", "bad plot"), (1, 0), ("neg", "pos"))
    first = encode_cached(tok, small, 8)
    assert encode_cached(tok, small, 8) is first
    assert encode_cached(tok, small, 4) is not first
    assert encode_cached(WordTokenizer(), small, 8) is not first  # another tokenizer, new tensors
    assert first.batch(torch.tensor([0, 1]))["input_ids"].shape == (2, 3)  # [CLS] + 2 words
