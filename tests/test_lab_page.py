"""AppTest of the live lab page: renders, every method has its knobs, runs, uploads."""
import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from tests.tiny import TINY_CSV

PAGE = str(ROOT / "app_pages" / "lab.py")


@pytest.fixture
def at():
    app = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not app.exception, app.exception
    return app


def _labels(at) -> set[str]:
    return {w.label for w in [*at.select_slider, *at.number_input, *at.slider]}


def test_lab_renders_with_every_method(at):
    assert at.title[0].value == "Live fine-tune lab"
    assert at.selectbox(key="lab_method").options == [  # the baseline first, then the registry's order
        "Head only (baseline)", "Full fine-tuning", "LoRA", "rsLoRA", "PiSSA", "LoRA-FA", "VeRA", "Delta-LoRA",
        "LoRA+", "DoRA", "QLoRA", "Prompt tuning", "Prefix tuning", "Adapter layers", "(IA)³", "BitFit",
        "LN tuning", "GaLore", "ReLoRA", "AdaLoRA", "LoKr", "OFT"]
    assert at.selectbox(key="lab_method").value == "lora"  # LoRA is preselected


@pytest.mark.parametrize("method, knobs", [
    ("lora", {"Rank r", "Alpha α"}),
    ("vera", {"Rank r"}),
    ("lora_plus", {"LoRA+ ratio η_B / η_A"}),
    ("delta_lora", {"Delta-LoRA λ", "Delta-LoRA K (first step that moves W)"}),
    ("prompt_tuning", {"Virtual tokens n"}),
    ("prefix_tuning", {"Virtual tokens n"}),
    ("adapter", {"Bottleneck m"}),
])
def test_each_method_shows_its_knobs(at, method, knobs):
    at.selectbox(key="lab_method").set_value(method).run()
    assert not at.exception, at.exception
    labels = _labels(at)
    assert knobs <= labels, labels
    assert {"Learning rate", "Steps", "Batch size", "Model dropout", "Seed"} <= labels


def test_methods_without_size_knob_have_only_the_budget(at):
    for method in ("full", "ia3", "head_only"):
        at.selectbox(key="lab_method").set_value(method).run()
        assert _labels(at) == {"Learning rate", "Steps", "Batch size", "Model dropout", "Seed"}


def test_vera_defaults_to_a_large_rank(at):
    at.selectbox(key="lab_method").set_value("vera").run()
    assert at.select_slider(key="lab_knob_vera_r").value == 256  # VeRA paper / peft default
    at.selectbox(key="lab_method").set_value("lora").run()
    assert at.select_slider(key="lab_knob_lora_r").value == 8  # peft default


# ---------------------------------------------------------------- a real (very short) run
@pytest.fixture
def quiet_at():
    """The page with the shared head-only baseline switched off (it would queue a 150-step run)."""
    app = AppTest.from_file(PAGE, default_timeout=300)
    app.session_state["lab_baseline_auto"] = False
    app.run()
    yield app
    for job in app.session_state["lab_jobs"] if "lab_jobs" in app.session_state else []:
        job.stop()
        job.wait(120)


def test_short_run_shows_progress_then_results(quiet_at):
    """A 3-step LoRA run on a tiny uploaded CSV (fast to score): live panel, results, Try it, download."""
    at = quiet_at
    at.radio(key="lab_data_source").set_value("Upload a CSV (text, label)").run()
    at.file_uploader(key="lab_upload").set_value(("tiny.csv", TINY_CSV, "text/csv")).run()
    at.number_input(key="lab_knob_lora_steps").set_value(3).run()
    at.select_slider(key="lab_knob_lora_batch").set_value(4).run()
    at.button(key="lab_start").click().run()
    assert not at.exception, at.exception
    (job,) = at.session_state["lab_jobs"]
    assert job.cfg.method == "lora" and job.cfg.steps == 3 and job.cfg.batch_size == 4
    # while queued or running the live panel shows where the run is (progress bar or queue place)
    assert at.get("progress") or any("waiting" in i.value for i in at.info)
    assert job.wait(600), "the 3-step run did not finish"
    view = job.view()
    assert view.status == "done", view.message
    assert [m.step for m in view.metrics] == [1, 2, 3]
    at.run()
    assert not at.exception, at.exception
    row = at.dataframe[0].value.iloc[0]
    assert row["method"] == "LoRA" and row["status"] == "done" and row["data"] == "tiny.csv"
    assert row["trainable params"] == f"{view.result.trainable:,}"
    assert row["test accuracy"] == f"{100 * view.result.test_accuracy:.1f}%"
    chart = next(c for c in at.get("plotly_chart") if "lab_curves" in c.proto.id)
    assert f"{view.metrics[-1].loss}" in chart.proto.spec  # the logged loss is what is drawn
    at.text_input(key="lab_try_text").input("City won 3-0 at home").run()
    assert not at.exception, at.exception
    labels = {m.label for m in at.metric}
    assert {"Base model (head not trained)", "Fine-tuned"} <= labels
    assert at.get("download_button"), "a LoRA run offers its adapter"


def test_try_it_compares_with_the_trained_head_only_baseline(quiet_at):
    """With a head-only run on the same data finished, Try it sets the fine-tuned model beside
    that trained baseline (not an untrained head) and says why it sits near chance."""
    at = quiet_at
    at.radio(key="lab_data_source").set_value("Upload a CSV (text, label)").run()
    at.file_uploader(key="lab_upload").set_value(("tiny.csv", TINY_CSV, "text/csv")).run()
    for method in ("head_only", "lora"):
        at.selectbox(key="lab_method").set_value(method).run()
        at.number_input(key=f"lab_knob_{method}_steps").set_value(2).run()
        at.select_slider(key=f"lab_knob_{method}_batch").set_value(4).run()
        at.button(key="lab_start").click().run()
        assert not at.exception, at.exception
        assert at.session_state["lab_jobs"][-1].wait(600)
    at.run()
    lora_run = at.session_state["lab_run_ids"][at.session_state["lab_jobs"][-1].id]
    at.selectbox(key="lab_explore").set_value(lora_run).run()
    at.text_input(key="lab_try_text").input("United beat City 2-0").run()
    assert not at.exception, at.exception
    assert {"Head only (trained head, frozen encoder)", "Fine-tuned"} <= {m.label for m in at.metric}
    assert "word order" in " ".join(c.value for c in at.caption)


# ---------------------------------------------------------------- CSV uploads
def _upload(at, name: str, raw: bytes):
    at.radio(key="lab_data_source").set_value("Upload a CSV (text, label)").run()
    at.file_uploader(key="lab_upload").set_value((name, raw, "text/csv")).run()
    assert not at.exception, at.exception
    return " ".join(e.value for e in at.error), " ".join(s.value for s in at.success)


@pytest.mark.parametrize("raw, expected", [
    (b"", "empty"),
    (b"sentence,category\nhello,a\n", "Missing column"),
    (b"text,label\n" + b"".join(b"good day %d,pos\n" % i for i in range(30)), "at least two labels"),
    (b"text,label\n" + b"x,a\n" * 5, "at least 20"),
    (b"PK\x03\x04\x00\x00binary", "binary"),
    ("text,label\ncaf\u00e9,a\n".encode("latin-1"), "not UTF-8"),
    (b"\xff\xfet\x00e\x00x\x00t\x00", "UTF-16"),
    (b'text,label\n"unclosed,a\n' + b"ok,b\n" * 30, ""),  # whatever the CSV module makes of it: no crash
])
def test_bad_csv_gets_a_clear_message(at, raw, expected):
    errors, successes = _upload(at, "mine.csv", raw)
    if expected:
        assert expected in errors, errors
        assert "built-in dataset" in " ".join(i.value for i in at.info)
    else:
        assert errors or successes


def test_good_csv_is_accepted_and_split(at):
    rows = [f"I loved it {i},pos" for i in range(25)] + [f"I hated it {i},neg" for i in range(25)]
    errors, successes = _upload(at, "reviews.csv", ("text,label\n" + "\n".join(rows)).encode())
    assert not errors
    assert "40 training and 10 test sentences, 2 labels (neg, pos)" in successes  # 20% of each label held out


# ---------------------------------------------------------------- queue and race
def test_race_queues_methods_shows_places_and_overlays_curves(quiet_at):
    """A run of another user holds the only slot: the race's runs wait and show their place."""
    from peft_edu.lab import jobs
    from peft_edu.lab.data import read_upload
    from peft_edu.models import load_pretrained
    from peft_edu.lab.run_config import defaults

    at = quiet_at
    tiny = read_upload(TINY_CSV)
    base, tokenizer = load_pretrained(2)
    jobs.set_max_runs(1)
    blocker = jobs.submit(defaults("lora", steps=2000, batch_size=4), base, tokenizer, tiny.train, tiny.test,
                          owner="another-user")
    try:
        at.radio(key="lab_data_source").set_value("Upload a CSV (text, label)").run()
        at.file_uploader(key="lab_upload").set_value(("tiny.csv", TINY_CSV, "text/csv")).run()
        at.number_input(key="lab_knob_lora_steps").set_value(2).run()
        at.select_slider(key="lab_knob_lora_batch").set_value(4).run()
        at.multiselect(key="lab_race_methods").set_value(["lora", "ia3"]).run()
        at.button(key="lab_race").click().run()
        assert not at.exception, at.exception
        race = at.session_state["lab_jobs"]
        assert [j.cfg.method for j in race] == ["lora", "ia3"]
        assert {(j.cfg.steps, j.cfg.batch_size, j.cfg.seed) for j in race} == {(2, 4, 0)}  # same budget
        assert race[1].cfg.lr == defaults("ia3").lr  # each method keeps its own defaults
        waiting = " ".join(i.value for i in at.info)
        assert "place 1 in the queue" in waiting and "place 2 in the queue" in waiting, waiting
    finally:
        blocker.stop()
        jobs.set_max_runs(None)
    assert all(j.wait(600) for j in race)
    at.run()
    assert not at.exception, at.exception
    chart = next(c for c in at.get("plotly_chart") if "lab_curves" in c.proto.id)
    names = " ".join(str(t.get("name", "")) for t in json.loads(chart.proto.spec)["data"])
    assert "Race 1 · LoRA" in names and "Race 1 · (IA)³" in names, names  # (the JSON may escape "·")
    assert len(at.dataframe[0].value) == 2  # one results row per run
