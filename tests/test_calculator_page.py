"""AppTest of the calculator page: widgets drive the numbers, which match peft_edu.count;
the URL holds the configuration; bad URLs and inputs give messages, never exceptions."""
import pytest
from streamlit.testing.v1 import AppTest

from peft_edu import count
from tests.conftest import ROOT

PAGE = str(ROOT / "app_pages" / "calculator.py")


def run(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=300)
    if query:
        at.query_params.update(query)
    at.run()
    assert not at.exception, at.exception
    return at


def table(at) -> dict[str, dict]:
    """Method name -> row of the results table."""
    df = at.dataframe[0].value
    return {row["Method"]: row for row in df.to_dict("records")}


def num(text: str) -> int:
    return int(text.replace(",", ""))


def warnings(at) -> str:
    return " ".join(w.value for w in at.warning)


@pytest.fixture(scope="module")
def roberta():
    return run({"model": "roberta-base", "methods": "full,lora,vera", "r": "8", "vera_r": "1024",
                "targets": "q,v"})


def test_default_page_shows_peft_edu_counts():
    at = run()
    rows = table(at)
    assert set(rows) == {"Full fine-tuning", "LoRA", "QLoRA"}
    lora = count("Llama-2-7B", "lora", r=8, targets="q_proj,v_proj")
    assert num(rows["LoRA"]["Trainable"]) == lora["trainable"] == 4_194_304
    assert num(rows["QLoRA"]["Trainable"]) == count("Llama-2-7B", "qlora", r=8, targets="q_proj,v_proj")["trainable"]
    assert num(rows["Full fine-tuning"]["Trainable"]) == count("Llama-2-7B", "full")["trainable"]
    assert rows["Full fine-tuning"]["80 GB"] == "does not fit"
    assert rows["QLoRA"]["24 GB"] == "fits"


def test_rank_slider_updates_table_and_url(roberta):
    at = roberta
    at.slider(key="calculator_r").set_value(16).run()
    assert not at.exception
    rows = table(at)
    ref = count("roberta-base", "lora", r=16, targets="query,value")
    assert num(rows["LoRA"]["Trainable"]) == ref["trainable"]
    assert num(rows["LoRA"]["Without head"]) == ref["trainable_without_head"] == 589_824
    assert at.query_params["r"] == ["16"] or at.query_params["r"] == "16"
    at.slider(key="calculator_r").set_value(8).run()


def test_paper_number_beside_ours(roberta):
    text = " ".join(i.value for i in roberta.info)
    assert "0.3M" in text and "294,912" in text and "2106.09685" in text
    assert "0.043M" in text and "43,008" in text and "2310.11454" in text


def test_targets_and_methods_widgets(roberta):
    at = roberta
    at.multiselect(key="calculator_targets").set_value(["q", "k", "v", "o"]).run()
    at.multiselect(key="calculator_methods").set_value(["lora", "dora", "prompt_tuning"]).run()
    at.number_input(key="calculator_n_tokens").set_value(50).run()
    assert not at.exception
    rows = table(at)
    assert set(rows) == {"LoRA", "DoRA", "Prompt tuning"}
    targets = "query,key,value,attention.output.dense"
    assert num(rows["DoRA"]["Trainable"]) == count("roberta-base", "dora", r=8, targets=targets)["trainable"]
    assert num(rows["Prompt tuning"]["Trainable"]) == count("roberta-base", "prompt_tuning", n_tokens=50)["trainable"]
    at.checkbox(key="calculator_all_linear").check().run()
    assert num(table(at)["LoRA"]["Trainable"]) == count("roberta-base", "lora", r=8, targets="all-linear")["trainable"]


def test_url_round_trip():
    at = run({"model": "gpt2-medium", "methods": "lora,adapter", "r": "4", "bottleneck": "32", "bits": "32",
              "batch": "3", "seq": "100", "ckpt": "1"})
    assert at.slider(key="calculator_r").value == 4
    assert at.number_input(key="calculator_bottleneck").value == 32
    assert at.checkbox(key="calculator_checkpointing").value is True
    at.number_input(key="calculator_batch").set_value(5).run()
    shared = {k: v[-1] if isinstance(v, list) else v for k, v in at.query_params.items()}
    assert shared["batch"] == "5" and shared["model"] == "gpt2-medium"
    again = run(shared)  # a colleague opens the shared link
    assert table(again) == table(at)
    assert not again.warning


@pytest.mark.parametrize("query,expected", [
    ({"r": "-5"}, "`r=-5` is out of range"),
    ({"r": "abc"}, "not a whole number"),
    ({"model": "gpt-5"}, "unknown model `gpt-5`"),
    ({"methods": "magic"}, "unknown method(s) magic"),
    ({"seq": "0"}, "`seq=0` is out of range"),
    ({"batch": "99999999"}, "out of range"),
    ({"model": "custom", "d": "1000", "heads": "7"}, "not divisible by 7 heads"),
    ({"model": "custom", "d": "999", "heads": "9"}, "must be even (RoPE)"),
    ({"model": "custom", "L": "0"}, "`L=0` is out of range"),
])
def test_bad_url_gives_message_and_fallback(query, expected):
    at = run(query)
    assert expected in warnings(at)
    assert at.dataframe, "the page still shows results with the fallback values"


def test_custom_dimensions_start_from_the_preset_and_validate():
    at = run({"model": "roberta-base", "methods": "lora"})
    at.selectbox(key="calculator_model").set_value("custom").run()
    assert at.number_input(key="calculator_hidden").value == 768
    assert at.number_input(key="calculator_layers").value == 12
    assert at.selectbox(key="calculator_arch").value == "bert"
    rows = table(at)
    assert num(rows["LoRA"]["Without head"]) == 294_912
    at.number_input(key="calculator_heads").set_value(7).run()
    assert not at.exception
    assert "not divisible by 7 heads" in warnings(at)
    assert at.number_input(key="calculator_heads").value == 6


def test_empty_method_choice_falls_back():
    at = run()
    at.multiselect(key="calculator_methods").set_value([]).run()
    assert not at.exception
    assert "Choose at least one method" in warnings(at)
    assert len(table(at)) == 3


def test_one_layer_view():
    at = run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["LoRA: trainable"] == "8,000"
    assert metrics["Full fine-tuning: trainable"] == "1,000,000"
    at.slider(key="calculator_layer_r").set_value(8).run()
    assert {m.label: m.value for m in at.metric}["LoRA: trainable"] == "16,000"


def test_memory_expanders_explain_every_term():
    at = run()
    labels = " ".join(e.label for e in at.expander)
    for term in ("Weights", "Gradients", "Optimizer states", "Activations", "Adapter file size", "Fits"):
        assert term in labels
    assert len(at.latex) >= 6


def test_fused_qkv_says_what_is_adapted():
    at = run({"model": "gpt2", "methods": "lora,dora", "r": "8", "targets": "q,v"})
    note = " ".join(i.value for i in at.info)
    assert "fuses q, k and v" in note and "294,912" in note and "313,344" in note and "coincidence" in note
    assert "fuses q, k and v" not in " ".join(i.value for i in run({"model": "roberta-base"}).info)
