"""The calculator's figures: valid plotly specs (rebuilt with full validation), titled,
labelled axes with units, frozen/trainable colours, numbers with thousands separators."""
import plotly.graph_objects as go
import pytest

from peft_edu.sizing.config import CalcConfig
from peft_edu.sizing.estimate import estimate
from peft_edu.viz.calculator import memory_chart, one_layer_chart, trainable_chart
from peft_edu.viz.style import FROZEN, TRAINABLE


@pytest.fixture(scope="module")
def rows():
    rows, problems = estimate(CalcConfig(model="gpt2", methods=("full", "lora", "qlora", "prompt_tuning")))
    assert not problems
    return rows


def validated(fig: go.Figure) -> go.Figure:
    """Rebuild from the figure's dict with plotly's validation on: raises on any bad property."""
    return go.Figure(fig.to_dict())


def test_trainable_chart(rows):
    fig = validated(trainable_chart(rows))
    assert fig.layout.title.text and "log" in fig.layout.yaxis.title.text
    assert fig.layout.yaxis.type == "log" and fig.layout.xaxis.title.text == "method"
    bar = fig.data[0]
    assert list(bar.y) == [r.counts["trainable"] for r in rows]
    assert bar.marker.color == TRAINABLE
    assert "124,439,808" in bar.text[0]  # GPT-2 small: thousands separators


def test_memory_chart_stacks_terms_to_the_total(rows):
    fig = validated(memory_chart(rows, (24, 40, 80)))
    assert "GB" in fig.layout.yaxis.title.text and fig.layout.barmode == "stack"
    bars = [t for t in fig.data if t.type == "bar"]
    assert [b.name for b in bars] == ["Weights", "Gradients", "Optimizer states", "Activations"]
    assert bars[0].marker.color == FROZEN
    for i, r in enumerate(rows):
        assert sum(b.y[i] for b in bars) == pytest.approx(r.memory.total / 1e9)
    # The largest total is full fine-tuning of GPT-2 small: 16 bytes · 124,439,808 ≈ 2.0 GB plus
    # activations (8·512 tokens: Korthikanti's bound 12 layers · s·b·h·(34 + 5·a·s/h) = 12 · 512·8·768·74
    # ≈ 2.8 GB, logits 8·512·50,257·6 bytes ≈ 1.2 GB, their fp32 gradient 8·512·50,257·4 ≈ 0.8 GB):
    # under 7 GB, far below 24 GB, so one line is drawn: the smallest GPU.
    assert max(r.memory.total for r in rows) < 24e9
    assert [s.y0 for s in fig.layout.shapes] == [24]
    assert {a.text for a in fig.layout.annotations} == {"24 GB GPU"}


def test_memory_chart_lines_below_the_largest_total_and_one_above():
    # LoRA on Llama-2-13B, batch 1: its 13.0B weights alone take 26.0 GB in bf16 (> 24 GB); the
    # activations of 512 tokens stay under Korthikanti's 40 · 512·5120·(34 + 5·40·512/5120) bytes
    # ≈ 5.7 GB, logits 512·32,000·6 ≈ 0.1 GB: the total lies between 24 and 40 GB.
    rows, _ = estimate(CalcConfig(model="Llama-2-13B", methods=("lora",), batch=1))
    fig = validated(memory_chart(rows, (24, 40, 80)))
    assert sorted(s.y0 for s in fig.layout.shapes) == [24, 40]


def test_memory_chart_draws_every_gpu_below_the_largest_total():
    rows, _ = estimate(CalcConfig(model="Llama-2-7B", methods=("full", "qlora")))  # full FT: ~130 GB
    fig = validated(memory_chart(rows, (24, 40, 80)))
    assert sorted(s.y0 for s in fig.layout.shapes) == [24, 40, 80]
    assert fig.layout.yaxis.range[1] > rows[0].memory.total / 1e9


def test_one_layer_chart_is_to_scale():
    fig = validated(one_layer_chart(1000, 1000, 4))
    w0, b, a = fig.layout.shapes
    assert (w0.x1 - w0.x0, w0.y1 - w0.y0) == (1000, 1000) and w0.fillcolor == FROZEN
    assert (b.x1 - b.x0, b.y1 - b.y0) == (4, 1000) and b.fillcolor == TRAINABLE
    assert (a.x1 - a.x0, a.y1 - a.y0) == (1000, 4) and a.fillcolor == TRAINABLE
    assert fig.layout.yaxis.scaleanchor == "x"
    assert "8,000" in fig.layout.title.text and "1,000,000" in fig.layout.title.text
