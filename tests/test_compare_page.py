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
    assert len(charts) == 2
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
