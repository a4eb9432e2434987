"""The "Deciding whether to fine-tune" lesson (issue 17): its worked example is computed from
the lab's shipped data and recorded runs, and the page shows those numbers."""
from __future__ import annotations

import csv
import json

from streamlit.testing.v1 import AppTest

from peft_edu.lessons.deciding import DATA_DIR, deciding_example, examples_needed, margin
from peft_edu.quiz import default_bank
from tests.conftest import ROOT


def test_example_comes_from_the_shipped_files():
    ex = deciding_example()
    with open(DATA_DIR / "match_results_train.csv", encoding="utf-8") as f:
        train = list(csv.DictReader(f))
    with open(DATA_DIR / "match_results_test.csv", encoding="utf-8") as f:
        test = list(csv.DictReader(f))
    runs = json.loads((DATA_DIR / "baseline_runs.json").read_text())["runs"]
    assert (ex.n_train, ex.n_test) == (len(train), len(test))
    assert sum(ex.train_counts.values()) == len(train) and sum(ex.test_counts.values()) == len(test)
    assert ex.baseline == next(r["accuracy"] for r in runs if r["method"] == "head_only")
    assert ex.best == max(r["accuracy"] for r in runs if r["method"] != "head_only")
    assert ex.conflicts == 0 and ex.leaked == 0  # the shipped data is clean and not leaked
    # the head-only baseline sits within the noise of chance; fine-tuning lies far outside it
    assert abs(ex.baseline - ex.chance) < ex.margin < ex.best - ex.baseline


def test_sample_size_arithmetic():
    assert margin(0.5, 240) == 1.96 * (0.25 / 240) ** 0.5
    assert examples_needed(0.02) == 2401 and examples_needed(0.05) == 385


def test_deciding_page_shows_the_worked_example():
    at = AppTest.from_file(str(ROOT / "app_pages" / "deciding.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    ex = deciding_example()
    text = " ".join(m.value for m in at.markdown)
    assert at.title[0].value == "Deciding whether to fine-tune"
    for shown in (f"{ex.n_train:,}", f"{ex.n_test:,}", f"{100 * ex.baseline:.1f} %", f"{100 * ex.best:.1f} %",
                  f"±{100 * ex.margin:.1f} points", "2,401"):
        assert shown in text, shown
    assert [m.value for m in at.metric] == [f"{100 * ex.chance:.1f} %", f"{100 * ex.baseline:.1f} %",
                                            f"{100 * ex.best:.1f} %"]


def test_the_deciding_questions_link_to_the_page():
    bank = default_bank()
    assert bank.topic_pages["when_to_finetune"] == "deciding"
    assert all(q.page == "deciding" for q in bank.questions if q.topic == "when_to_finetune")
