"""AppTest of the distributed page: the calculator reproduces REFERENCE.md's Llama-2-7B numbers,
keeps its state in the URL, answers bad URLs with messages; a real 2-process run started with the
button ends as a background job and its measured bytes equal the formula."""
from __future__ import annotations

import time

from tests.workers import live_workers
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

PAGE = str(ROOT / "app_pages" / "distributed.py")


def run(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=300)
    if query:
        at.query_params.update(query)
    at.run()
    assert not at.exception, at.exception
    return at


def calc_table(at) -> dict[str, dict]:
    df = next(d.value for d in at.dataframe if "Total per GPU" in d.value.columns)
    return {row["Method"]: row for row in df.to_dict("records")}


def test_calculator_reference_numbers_and_url():
    at = run({"N": "8", "zero": "3"})
    rows = calc_table(at)
    assert rows["LoRA"]["Trainable Φ"] == "4,194,304"
    assert rows["LoRA"]["Weights"] == "1.69 GB"  # 2(Ψ + Φ)/8 bytes: ZeRO-3 shards the frozen weights too
    at.selectbox(key="dist_stage").set_value(0).run()
    assert not at.exception
    assert calc_table(at)["Full fine-tuning"]["Optimizer"] == "80.86 GB"  # 12 Ψ, Ψ = 6,738,415,616
    assert at.query_params["zero"] == ["0"] or at.query_params["zero"] == "0"


def test_bad_url_gives_messages_not_exceptions():
    at = run({"N": "6", "tp": "4", "zero": "7", "prec": "fp4"})
    text = " ".join(w.value for w in at.warning)
    assert "cannot be split" in text and "zero=7" in text and "prec=fp4" in text


def test_start_button_runs_a_real_job_to_the_end():
    at = run()
    at.radio(key="dist_run_model").set_value("tiny")
    at.slider(key="dist_run_steps").set_value(2)
    at.button(key="dist_run_start").click().run()
    assert not at.exception, at.exception
    job = at.session_state["dist_jobs"][0]
    assert job.wait(120), "the run did not end"
    at.run()
    assert not at.exception, at.exception
    view = job.view()
    assert view.status == "done", view.message
    df = next(d.value for d in at.dataframe if "Run" in d.value.columns)
    assert df.iloc[0]["Equal"] == "yes"
    time.sleep(0.5)
    assert live_workers() == []

    at.radio(key="dist_run_sharding").set_value("fsdp")
    at.button(key="dist_run_start").click().run()
    assert at.session_state["dist_jobs"][1].wait(120), "the FSDP run did not end"
    at.run()
    assert not at.exception, at.exception
    df = next(d.value for d in at.dataframe if "Run" in d.value.columns)
    fsdp = df.iloc[1]
    assert fsdp["Equal"] == "—" and fsdp["Held per rank (measured)"] == fsdp["Held per rank (formula)"]
    assert live_workers() == []
