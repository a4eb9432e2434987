"""AppTest of the teacher page: off without a password, closed to a wrong one, and with the
right one the class's real answers and runs (from the store, SQLite and PostgreSQL)."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from peft_edu.quiz import default_bank
from peft_edu.store import runs
from tests.conftest import ROOT
from tests.stores import app_store, postgres_server, store_url  # noqa: F401  (fixtures)

PAGE = str(ROOT / "app_pages" / "teacher.py")


def _class(store) -> None:
    q = default_bank().questions[0]
    ann, _ = store.new_learner("Ann")
    bob, _ = store.new_learner("Bob")
    store.record_answer(ann.id, q.id, q.topic, False, given="x", expected="y")
    store.record_answer(bob.id, q.id, q.topic, False)
    store.record_answer(bob.id, "other", q.topic, True)
    run_id = runs.new_run_id()
    runs.add_run(store, ann.id, run_id, job_id="", label="LoRA r=8", method="lora", data_name="news", config={})
    runs.finish_run(store, ann.id, run_id, status="done", message="", curves=[],
                    result={"test_accuracy": 0.875, "seconds": 30.0})


def test_without_a_password_the_page_shows_nothing(app_store, monkeypatch):
    monkeypatch.delenv("PEFT_LAB_TEACHER_PASSWORD", raising=False)
    _class(app_store)
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, at.exception
    assert "PEFT_LAB_TEACHER_PASSWORD" in at.info[0].value
    assert not at.dataframe and not at.text_input


def test_a_wrong_password_opens_nothing_the_right_one_shows_the_class(app_store, monkeypatch):
    monkeypatch.setenv("PEFT_LAB_TEACHER_PASSWORD", "class-of-2026")
    _class(app_store)
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.text_input(key="teacher_password_w").input("class-of-2025").run()
    assert "not the teacher password" in at.error[0].value and not at.dataframe
    at.text_input(key="teacher_password_w").input("class-of-2026").run()
    assert not at.exception, at.exception
    active, scores, topics, missed, lab = (d.value for d in at.dataframe)  # in the page's order
    assert {"Ann", "Bob"} <= set(active["learner"])
    assert dict(zip(scores["learner"], scores["correct"])) == {"Ann": 0, "Bob": 1}
    assert sorted(zip(topics["learner"], topics["answered"])) == [("Ann", 1), ("Bob", 2)]
    assert missed["missed"].iloc[0] == 2 and missed["question"].iloc[0][:20] == default_bank().questions[0].prompt[:20]
    assert list(lab["learner"]) == ["Ann"] and list(lab["test accuracy"]) == ["87.5%"]
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Quiz answers (CSV)", "Lab runs (CSV)"]
