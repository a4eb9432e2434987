"""AppTest of app_pages/compare.py: the registry table and the race of every registry method."""
from streamlit.testing.v1 import AppTest

import peft_edu
from tests.conftest import ROOT


def _page() -> AppTest:
    return AppTest.from_file(str(ROOT / "app_pages" / "compare.py"), default_timeout=600).run()


def test_compare_page_table_and_race():
    at = _page()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    assert list(table["Method"]) == [s.name for s in peft_edu.METHODS.values()]
    assert list(table["Mergeable"]) == ["yes" if s.mergeable else "no" for s in peft_edu.METHODS.values()]
    lora = table[table["Method"] == "LoRA"].iloc[0]
    assert lora["1000×1000 layer (r, m = 8)"] == f"{peft_edu.layer_params('lora', 1000, 1000, r=8):,}"
    charts = at.get("plotly_chart")
    assert len(charts) == 3  # the loss race, what each trains, the Pareto front
    results = at.dataframe[1].value
    assert len(results) == len(peft_edu.METHODS) == 21  # one row per registry method
    lora_row = results[results["method"] == "LoRA"].iloc[0]
    assert lora_row["trainable (head excluded)"] == f"{2 * 2 * 4 * (16 + 16):,}"  # 2 blocks, q and v, r = 4


def test_compare_page_no_method_chosen_warns():
    at = _page()
    at.multiselect(key="compare_methods").set_value([]).run()
    assert not at.exception, at.exception
    assert any("at least one method" in w.value for w in at.warning)
    assert len(at.get("plotly_chart")) == 0
    at.multiselect(key="compare_methods").set_value(["lora", "ia3"]).run()
    assert len(at.dataframe[1].value) == 2


def test_same_settings_switch_runs_every_method_at_one_rate():
    at = _page()
    own = at.dataframe[1].value
    assert "Not equal: the learning rate" in " ".join(c.value for c in at.caption)
    at.toggle(key="compare_same_settings").set_value(True).run()
    assert not at.exception, at.exception
    same = at.dataframe[1].value
    assert set(same["learning rate"]) == {"0.03"}
    assert "Why this is unfair" in " ".join(m.value for m in at.markdown)
    assert list(own["method"]) == list(same["method"])


def test_pareto_front_on_the_page_is_the_non_dominated_methods():
    """The chart's front is exactly the methods of the page's own table that no other beats
    (checked here by brute force on the printed numbers), for each cost the learner picks."""
    import json

    at = _page()
    table = at.dataframe[2].value
    assert len(table) == 21
    names = {s.name: k for k, s in peft_edu.METHODS.items()}
    columns = {"trainable": "trainable", "memory": "memory (kB)", "time": "CPU s", "forgetting": "forgetting (nats)"}
    for axis in ("trainable", "forgetting"):
        at.radio(key="compare_pareto_axis").set_value(axis).run()
        assert not at.exception, at.exception
        spec = json.loads(at.get("plotly_chart")[2].proto.spec)
        front = next(t for t in spec["data"] if t["name"] == "Pareto front")
        acc = {row["method"]: float(row["test accuracy"].rstrip("%")) for _, row in table.iterrows()}
        cost = {row["method"]: float(str(row[columns[axis]]).replace(",", "")) for _, row in table.iterrows()}
        # the table rounds; compare with the figure's own (unrounded) coordinates of the same methods
        xs = dict(zip(front["text"], front["x"]))
        assert set(xs) <= set(acc)
        for name in acc:
            dominated = any(cost[o] <= cost[name] and acc[o] >= acc[name] and (cost[o] < cost[name] or acc[o] > acc[name])
                            for o in acc if o != name)
            if name in xs:  # on the front: nothing in the table is clearly better (beyond rounding)
                assert not any(cost[o] < cost[name] * 0.99 - 1e-3 and acc[o] > acc[name] + 0.1 for o in acc), name
            elif not dominated:  # off the front only when some method beats it (ties broken by rounding)
                assert any(cost[o] <= cost[name] * 1.01 + 1e-3 and acc[o] >= acc[name] - 0.1 for o in acc if o != name), name
        assert names  # every name is a registry method
