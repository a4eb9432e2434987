"""AppTest: a finished race of three methods ends in a Pareto chart whose front is the page's
table (on every cost axis), and the chart is the same after a refresh (the race is kept)."""
from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from peft_edu.lab.pareto import AXES
from peft_edu.viz.style import fmt_bytes, fmt_int
from tests.conftest import ROOT
from tests.tiny import TINY_CSV

PAGE = str(ROOT / "app_pages" / "lab.py")
RACE = ["head_only", "lora", "ia3"]


def _session(code: str | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=300)
    at.session_state["lab_baseline_auto"] = False  # no shared 150-step baseline run
    if code:
        at.query_params["learner"] = code
    return at.run()


def _race(at: AppTest) -> list:
    """A race of RACE, 2 steps of batch 4 each, on the tiny upload; its finished jobs."""
    at.radio(key="lab_data_source").set_value("Upload a CSV (text, label)").run()
    at.file_uploader(key="lab_upload").set_value(("tiny.csv", TINY_CSV, "text/csv")).run()
    at.number_input(key="lab_knob_lora_steps").set_value(2).run()
    at.select_slider(key="lab_knob_lora_batch").set_value(4).run()
    at.multiselect(key="lab_race_methods").set_value(RACE).run()
    at.button(key="lab_race").click().run()
    assert not at.exception, at.exception
    race = list(at.session_state["lab_jobs"])
    assert [j.cfg.method for j in race] == RACE
    assert all(j.wait(600) for j in race)
    assert [j.status for j in race] == ["done"] * 3, [j.message for j in race]
    at.run()
    assert not at.exception, at.exception
    return race


def _chart(at: AppTest) -> dict:
    (chart,) = [c for c in at.get("plotly_chart") if "lab_pareto_chart" in c.proto.id]
    return json.loads(chart.proto.spec)


def _table(at: AppTest) -> list[dict]:
    (table,) = [d for d in at.dataframe if "on the front" in d.value.columns]
    return table.value.to_dict("records")


def _written(axis: str, x: float) -> str:
    """How the table writes a cost the chart draws at x."""
    return {"trainable": fmt_int, "memory": lambda v: fmt_bytes(v * 1e6), "time": lambda v: f"{v:,.1f}",
            "forgetting": lambda v: f"{v:.4f}"}[axis](x)


def _column(axis: str) -> str:
    return {"trainable": "trainable params", "memory": "run's memory", "time": "time (s)",
            "forgetting": "drift (1 − cos)"}[axis]


def _non_dominated(costs: dict[str, tuple[float, float]]) -> set[str]:
    """The front by a sweep (not the app's code): cheapest first, keep what beats everything cheaper."""
    front, best = set(), None
    for key in sorted(costs, key=lambda k: (costs[k][0], -costs[k][1])):
        if best is None or costs[key][1] > best[1] or costs[key] == best:
            front.add(key)
            best = costs[key]
    return front


def _cost(result, axis: str) -> float:
    memory = sum(result.memory[k] for k in ("weights", "gradients", "optimizer", "activations"))
    return {"trainable": result.trainable, "memory": memory / 1e6, "time": result.seconds,
            "forgetting": result.drift}[axis]


def _check_front(at: AppTest, axis: str, results: dict) -> list[str]:
    spec, rows = _chart(at), _table(at)
    front = next(t for t in spec["data"] if t["name"] == "Pareto front")
    on_front = [r for r in rows if r["on the front"] == "yes"]
    assert sorted(front["text"]) == sorted(r["method"] for r in on_front)  # the chart's front is the table's
    by_method = {r["method"]: r for r in rows}
    for name, x, y in zip(front["text"], front["x"], front["y"]):  # each front point is its row's numbers
        assert _written(axis, x) == by_method[name][_column(axis)], (axis, name)
        assert f"{100 * y:.1f}%" == by_method[name]["test accuracy"]
    expected = _non_dominated({m: (_cost(r, axis), r.test_accuracy) for m, r in results.items()})
    assert set(front["text"]) == expected, (axis, expected)
    assert spec["layout"]["xaxis"]["title"]["text"].replace("<br>", " ") == AXES[axis][0]  # with its unit
    return front["text"]


def test_a_finished_race_ends_in_a_pareto_chart_whose_front_is_the_table():
    at = _session()
    code = at.session_state["learner_code"]
    race = _race(at)
    names = {"head_only": "Head only (baseline)", "lora": "LoRA", "ia3": "(IA)³"}
    results = {names[j.cfg.method]: j.view().result for j in race}
    assert results["Head only (baseline)"].drift == 0.0  # the frozen encoder did not move
    assert all(r.drift is not None and r.drift >= 0 for r in results.values())
    assert [r["method"] for r in _table(at)] == list(names.values())
    fronts = {}
    for axis in AXES:
        at.radio(key="lab_pareto_axis").set_value(axis).run()
        assert not at.exception, at.exception
        fronts[axis] = _check_front(at, axis, results)
    assert "masked-language-model" in " ".join(c.value for c in at.caption)  # the stand-in is said on the page

    refreshed = _session(code)  # a refresh: the race is read back from the store
    assert not refreshed.exception, refreshed.exception
    refreshed.radio(key="lab_pareto_axis").set_value("forgetting").run()
    assert _check_front(refreshed, "forgetting", results) == fronts["forgetting"]
