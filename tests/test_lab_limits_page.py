"""AppTest: the teacher's limits on the lab page (a refused Start says why and loses nothing; the
Steps input stops at the cap) and the live queue with its waits on the teacher page."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from peft_edu.lab import jobs
from peft_edu.lab.limits import Limits
from peft_edu.lab.run_config import defaults
from tests.conftest import ROOT
from tests.tiny import TINY_CSV, WordTokenizer, drain_jobs, lab_bert, tiny_task

LAB, TEACHER = str(ROOT / "app_pages" / "lab.py"), str(ROOT / "app_pages" / "teacher.py")


@pytest.fixture
def blocked():
    """The only training slot held by a long run of nobody in particular (tiny model)."""
    jobs.set_max_runs(1)
    jobs.set_limits(Limits())
    cfg = defaults("lora", steps=100_000, batch_size=8, max_length=16, eval_every=100_000)
    blocker = jobs.submit(cfg, lab_bert(), WordTokenizer(), tiny_task(64), tiny_task(16, seed=1), owner="else")
    yield blocker
    drain_jobs(300, forget=False)
    jobs.set_max_runs(None)
    jobs.set_limits(None)


def _lab() -> AppTest:
    at = AppTest.from_file(LAB, default_timeout=300)
    at.session_state["lab_baseline_auto"] = False
    at.run()
    at.radio(key="lab_data_source").set_value("Upload a CSV (text, label)").run()
    at.file_uploader(key="lab_upload").set_value(("tiny.csv", TINY_CSV, "text/csv")).run()
    return at


def test_a_second_start_is_refused_with_the_reason_and_the_settings_stay(blocked):
    at = _lab()
    at.number_input(key="lab_knob_lora_steps").set_value(3).run()
    at.button(key="lab_start").click().run()
    assert not at.exception, at.exception
    (mine,) = at.session_state["lab_jobs"]
    waiting = " ".join(i.value for i in at.info)
    assert "place 1 in the queue · about" in waiting and "until it starts" in waiting, waiting
    at.select_slider(key="lab_knob_lora_r").set_value(16).run()
    at.button(key="lab_start").click().run()
    assert not at.exception, at.exception
    warned = " ".join(w.value for w in at.warning)
    assert ("You already have a run queued or training (LoRA r=8 alpha=16, place 1 in the queue). Stop it or "
            "wait for it to finish; your teacher allows 1 at a time") in warned, warned
    assert at.session_state["lab_jobs"] == [mine]  # nothing more queued ...
    assert at.number_input(key="lab_knob_lora_steps").value == 3  # ... and nothing lost
    assert at.select_slider(key="lab_knob_lora_r").value == 16
    at.button(key="lab_race").click().run()  # a race is an entry too
    assert "You already have a run queued" in " ".join(w.value for w in at.warning)
    assert at.session_state["lab_jobs"] == [mine]
    at.button(key="lab_stop").click().run()  # Stop frees the entry: Start works again at once
    at.button(key="lab_start").click().run()
    assert not at.exception, at.exception
    assert not at.warning and len(at.session_state["lab_jobs"]) == 2


def test_the_steps_input_stops_at_the_teachers_cap(blocked):
    jobs.set_limits(Limits(max_steps=40))
    at = _lab()
    steps = at.number_input(key="lab_knob_lora_steps")
    assert steps.max == 40
    assert "Your teacher allows at most 40 steps per run." in [c.value for c in at.caption]
    assert steps.value == 40  # LoRA's default (100 steps) is above the cap: the cap
    at.query_params["steps"] = "5000"  # a shared link cannot go past it either
    at.query_params["method"] = "lora"
    at.run()
    assert not at.exception, at.exception
    assert at.number_input(key="lab_knob_lora_steps").value == 40


def test_the_teacher_sees_the_limits_and_the_queue_with_names_and_waits(blocked, monkeypatch, tmp_path):
    from ui import learner

    monkeypatch.setenv("PEFT_LAB_DB", f"sqlite:///{tmp_path / 'lab.sqlite3'}")
    monkeypatch.setenv("PEFT_LAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("PEFT_LAB_TEACHER_PASSWORD", "class-of-2026")
    learner._open.clear()
    try:
        ann, _ = learner.store().new_learner("Ann")
        cfg = defaults("lora", steps=50, batch_size=8, max_length=16)
        queued = jobs.submit(cfg, lab_bert(), WordTokenizer(), tiny_task(64), tiny_task(16, seed=1), owner=ann.id,
                             learner=ann.id)
        at = AppTest.from_file(TEACHER, default_timeout=60).run()
        at.text_input(key="teacher_password_w").input("class-of-2026").run()
        assert not at.exception, at.exception
        captions = " ".join(c.value for c in at.caption)
        assert "each learner has 1 run or race at a time" in captions and "at most 500 steps" in captions
        *_, rows = (d.value for d in at.dataframe)  # the live queue comes last
        assert list(rows.columns) == ["learner", "run", "where"]
        assert list(rows["learner"]) == ["(the app)", "Ann"]
        assert rows["where"].iloc[0].startswith("training")
        wait = queued.view().wait_s
        assert rows["where"].iloc[1].startswith("place 1 in the queue · about") and wait is not None and wait > 0
    finally:
        learner._open.clear()


def test_the_search_pages_trap_set_is_one_entry_and_blocks_a_second(blocked):
    at = AppTest.from_file(str(ROOT / "app_pages" / "search.py"), default_timeout=300).run()
    at.button(key="search_trap_set").click().run()
    assert not at.exception, at.exception
    traps = at.session_state["search_jobs"]
    me = at.session_state["learner"].id
    assert len(traps) == 4 and {j.learner for j in traps} == {me} and len({j.race for j in traps}) == 1
    at.button(key="search_start").click().run()
    assert not at.exception, at.exception
    assert "You already have a race queued or training (a race of 4: " in " ".join(w.value for w in at.warning)
    assert at.session_state["search_jobs"] == traps


def test_the_distributed_page_counts_against_the_same_learner(blocked):
    from ui import learner

    found, code = learner.store().new_learner()
    me = found.id
    at = AppTest.from_file(str(ROOT / "app_pages" / "distributed.py"), default_timeout=300)
    at.query_params["learner"] = code  # the learner's resume link
    at.run()
    cfg = defaults("lora", steps=3, batch_size=8, max_length=16)
    lab_run = jobs.submit(cfg, lab_bert(), WordTokenizer(), tiny_task(64), tiny_task(16, seed=1), owner=me,
                          learner=me, label_text="my lab run")
    at.button(key="dist_run_start").click().run()
    assert not at.exception, at.exception
    assert "(my lab run, place 1 in the queue)" in " ".join(w.value for w in at.warning)
    assert [j.id for j in jobs.jobs_of(me)] == [lab_run.id]  # nothing else queued
