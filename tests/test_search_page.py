"""AppTest of the Semantic search lab: renders, offers the layer methods, validates uploads,
and a short real run on a small uploaded set shows the metrics table, top-5, traps, search box
and the adapter download."""
from __future__ import annotations

import csv
import io

import pytest
from streamlit.testing.v1 import AppTest

from peft_edu import METHODS
from tests.conftest import ROOT

PAGE = str(ROOT / "app_pages" / "search.py")
UPLOAD = "Upload a CSV (query, passage)"


def small_csv(n: int = 40) -> bytes:
    """The shipped set's first n training questions with their passages (n passages)."""
    from peft_edu.embeddings.data import load_builtin

    data = load_builtin()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["query", "passage"])
    for q, i in list(zip(data.train_queries, data.train_relevant))[:n]:
        writer.writerow([q, data.corpus[i]])
    return out.getvalue().encode()


@pytest.fixture
def at():
    app = AppTest.from_file(PAGE, default_timeout=300).run()
    assert not app.exception, app.exception
    yield app
    for job in app.session_state["search_jobs"] if "search_jobs" in app.session_state else []:
        job.stop()
        job.wait(120)


def test_page_renders_with_the_layer_methods(at):
    assert at.title[0].value == "Semantic search lab"
    options = at.selectbox(key="search_method").options
    assert "LoRA" in options and "Full fine-tuning" in options and len(options) >= 4
    assert "Prompt tuning" not in options  # virtual tokens would be mean-pooled into every embedding
    assert at.selectbox(key="search_method").value == "lora"
    assert {t.label for t in at.toggle} == {"Learning rate 10× too high", "Duplicate pairs inside a batch",
                                           "Batch of 4 (vs 64)"}
    assert "1,200 passages" in " ".join(c.value for c in at.caption)


def test_bad_upload_says_why(at):
    at.radio(key="search_data_source").set_value(UPLOAD).run()
    at.file_uploader(key="search_upload").set_value(("bad.csv", b"text,label\na,b\n", "text/csv")).run()
    assert not at.exception, at.exception
    assert "Missing column(s): query, passage" in at.error[0].value


def test_short_run_shows_the_metrics_and_everything_after(at):
    at.radio(key="search_data_source").set_value(UPLOAD).run()
    at.file_uploader(key="search_upload").set_value(("mine.csv", small_csv(), "text/csv")).run()
    assert "40 passages" in " ".join(s.value for s in at.success)
    at.number_input(key="search_steps").set_value(3).run()
    at.selectbox(key="search_batch").set_value(4).run()
    at.button(key="search_start").click().run()
    assert not at.exception, at.exception
    (job,) = at.session_state["search_jobs"]
    assert job.cfg.steps == 3 and job.cfg.batch_size == 4 and job.cfg.method in METHODS
    assert job.wait(300), "the 3-step run did not finish"
    assert job.view().status == "done", job.view().message
    at.run()
    assert not at.exception, at.exception
    table = at.table[0].value  # before / after, one row per metric
    assert list(table.index) == ["recall@1", "recall@5", "recall@10", "MRR@10", "nDCG@10"]
    result = job.view().result
    assert table.loc["recall@10", "fine-tuned"] == f"{100 * result.after['recall@10']:.1f}"
    assert table.loc["MRR@10", "base model"] == f"{100 * result.before['MRR@10']:.1f}"
    at.text_input(key="search_own_query").input("my inbox is slow").run()
    assert not at.exception, at.exception
    assert len(at.text) >= 10  # five hits for each model
    assert at.get("download_button"), "a LoRA run offers its adapter"


def test_a_trap_run_is_measured_against_the_clean_run(at):
    at.radio(key="search_data_source").set_value(UPLOAD).run()
    at.file_uploader(key="search_upload").set_value(("mine.csv", small_csv(), "text/csv")).run()
    at.number_input(key="search_steps").set_value(2).run()
    at.selectbox(key="search_batch").set_value(4).run()
    at.button(key="search_start").click().run()
    assert at.session_state["search_jobs"][0].wait(300)  # one run of a learner's at a time (the default limit)
    at.toggle(key="search_trap_lr").set_value(True).run()
    at.button(key="search_start").click().run()
    clean, trapped = at.session_state["search_jobs"]
    assert clean.wait(300) and trapped.wait(300)
    assert trapped.cfg.lr == pytest.approx(10 * clean.cfg.lr) and "lr ×10" in trapped.label
    at.run()
    assert not at.exception, at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "**Learning rate 10× too high**: recall@10 gain" in text
    assert "**Duplicate pairs inside a batch**: not measured yet" in text
