"""AppTest: lab runs belong to the learner. A finished run (curves, results, confusion matrix,
adapter) is there in a new session with the same code, after a server restart too; a run still
training reattaches after a refresh; one left training by a stopped server shows "interrupted".
Against a real SQLite file and a real PostgreSQL server."""
from __future__ import annotations

import io
import json
import zipfile

from streamlit.testing.v1 import AppTest

from peft_edu.store import runs
from tests.conftest import ROOT
from tests.stores import app_store, postgres_server, store_url  # noqa: F401  (fixtures)
from tests.tiny import TINY_CSV

PAGE = str(ROOT / "app_pages" / "lab.py")


def _session(code: str | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=300)
    at.session_state["lab_baseline_auto"] = False
    if code:
        at.query_params["learner"] = code
    return at.run()


def _start(at: AppTest, steps: int) -> None:
    at.radio(key="lab_data_source").set_value("Upload a CSV (text, label)").run()
    at.file_uploader(key="lab_upload").set_value(("tiny.csv", TINY_CSV, "text/csv")).run()
    at.number_input(key="lab_knob_lora_steps").set_value(steps).run()
    at.select_slider(key="lab_knob_lora_batch").set_value(4).run()
    at.button(key="lab_start").click().run()
    assert not at.exception, at.exception


def _curves(at: AppTest) -> dict:
    chart = next(c for c in at.get("plotly_chart") if "lab_curves" in c.proto.id)
    return json.loads(chart.proto.spec)


def _shows_the_run(at: AppTest, view) -> None:
    assert not at.exception, at.exception
    row = at.dataframe[0].value.iloc[0]
    assert row["method"] == "LoRA" and row["status"] == "done" and row["data"] == "tiny.csv"
    assert row["test accuracy"] == f"{100 * view.result.test_accuracy:.1f}%"
    losses = _curves(at)["data"][0]["y"]
    assert losses == [m.loss for m in view.metrics]  # the kept curve is the logged one
    assert any("lab_confusion_" in c.proto.id for c in at.get("plotly_chart"))
    (button,) = at.get("download_button")
    assert "Download adapter" in button.proto.label


def test_a_finished_run_is_kept_for_the_learner_and_survives_a_restart(app_store):
    from ui import learner
    from ui.lab import keep

    at = _session()
    code, me = at.session_state["learner_code"], at.session_state["learner"]
    _start(at, steps=3)
    (job,) = at.session_state["lab_jobs"]
    assert job.wait(600) and job.status == "done", job.message
    view = job.view()
    (kept,) = runs.runs_of(app_store, me.id)
    assert kept.status == "done" and len(kept.curves) == 3 and kept.confusion and kept.has_adapter
    with zipfile.ZipFile(io.BytesIO(runs.adapter_bytes(app_store, me.id, kept.id))) as z:
        assert "adapter/adapter_config.json" in z.namelist() and "adapter/labels.json" in z.namelist()

    refreshed = _session(code)  # a refresh: a new session with the code in the URL
    _shows_the_run(refreshed, view)
    refreshed.radio(key="lab_data_source").set_value("Upload a CSV (text, label)").run()
    assert any("tiny.csv** (your upload, kept)" in s.value for s in refreshed.success)  # the upload is kept too

    learner._open.clear()  # a server restart: a new store handle, no live jobs in memory
    keep._registry.clear()
    after = _session(code)
    _shows_the_run(after, view)
    assert any("no longer holds" in i.value for i in after.info)  # Try it needs the model: said so
    other = _session()  # another learner sees none of it
    assert not other.dataframe and other.session_state["learner"].id != me.id


def test_a_training_run_reattaches_and_a_stopped_server_leaves_it_interrupted(app_store):
    from ui import learner
    from ui.lab import keep

    at = _session()
    code, me = at.session_state["learner_code"], at.session_state["learner"]
    _start(at, steps=2000)
    (job,) = at.session_state["lab_jobs"]
    try:
        for _ in range(600):  # the run leaves the queue: its kept status follows
            if runs.runs_of(app_store, me.id)[0].status == "running":
                break
            job.wait(0.2)
        assert runs.runs_of(app_store, me.id)[0].status == "running"
        again = _session(code)  # a refresh while it trains
        assert again.session_state["lab_jobs"] == [job]
        assert again.get("progress") or any("waiting" in i.value for i in again.info)
        assert any(b.key == "lab_stop" for b in again.button)
    finally:
        job._on_done = None  # as if the server died mid-run: nothing is recorded at the end
        job.stop()
        job.wait(120)
    learner._open.clear()  # the restart
    keep._registry.clear()
    after = _session(code)
    (kept,) = runs.runs_of(app_store, me.id)
    assert kept.status == "interrupted"
    assert any("was interrupted" in w.value for w in after.warning)


def test_the_recipe_is_in_the_url(app_store):
    at = AppTest.from_file(PAGE, default_timeout=300)
    at.query_params.update({"method": "vera", "r": "60", "lr": "0.0021", "steps": "50", "batch": "9", "seed": "3"})
    at.run()  # a teacher's link: VeRA, r snapped to 64, lr to 2e-3, batch to 8
    assert not at.exception, at.exception
    assert at.selectbox(key="lab_method").value == "vera"
    assert at.select_slider(key="lab_knob_vera_r").value == 64
    assert at.select_slider(key="lab_knob_vera_lr").value == 2e-3
    assert at.number_input(key="lab_knob_vera_steps").value == 50
    assert at.number_input(key="lab_knob_vera_seed").value == 3
    assert at.select_slider(key="lab_knob_vera_batch").value == 8
    at.selectbox(key="lab_method").set_value("ia3").run()  # the page writes what is on screen
    query = {k: v[-1] if isinstance(v, list) else v for k, v in at.query_params.items()}
    assert query["method"] == "ia3" and "r" not in query and query["learner"]
    assert query["data"] == "builtin"


def test_the_data_choice_is_in_the_url(app_store):
    at = AppTest.from_file(PAGE, default_timeout=300)
    at.query_params.update({"data": "upload", "method": "lora"})
    at.run()  # a teacher's link to the upload form (the file stays with each learner)
    assert not at.exception, at.exception
    assert at.radio(key="lab_data_source").value.startswith("Upload")
    assert any("built-in dataset" in i.value for i in at.info)  # no file yet: runs use the built-in data
    query = {k: v[-1] if isinstance(v, list) else v for k, v in at.query_params.items()}
    assert query["data"] == "upload"


def test_the_process_holds_a_bounded_number_of_trained_models(app_store):
    """Runs outlive their tabs, so their models must not pile up: the oldest leave memory
    (their results stay in the store)."""
    from ui.lab import keep

    at = _session()
    _start(at, steps=1)
    assert at.session_state["lab_jobs"][0].wait(600)  # one run of a learner's at a time (the default limit)
    at.button(key="lab_start").click().run()
    first, second = at.session_state["lab_jobs"]
    assert first.wait(600) and second.wait(600)
    keep.trim_models(limit=1)
    assert at.session_state["lab_jobs"] == [second] and second.view().result.model is not None
    at.run()
    assert not at.exception, at.exception
    assert len(at.dataframe[0].value) == 2  # both runs' results are still kept
