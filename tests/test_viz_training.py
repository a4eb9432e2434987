"""The lab's figures show exactly the numbers given, titled, labelled, in the app's colours."""
import pytest

from peft_edu import METHODS
from peft_edu.viz.style import FROZEN, TRAINABLE
from peft_edu.lab.metrics import StepMetrics
from peft_edu.viz.training import (METHOD_COLORS, RunSeries, confusion_figure, probability_bars,
                                   series_of, training_curves)


def _run(method: str, label: str) -> RunSeries:
    return RunSeries(label, method, steps=[1, 2, 3], loss=[0.7, 0.5, 0.3], eval_steps=[2, 3], accuracy=[0.6, 0.85])


def test_curves_overlay_every_run_with_its_numbers():
    fig = training_curves([_run("lora", "LoRA"), _run("dora", "DoRA")], baseline=0.62)
    loss = [t for t in fig.data if t.xaxis == "x"]
    acc = [t for t in fig.data if t.xaxis == "x2"]
    assert [t.name for t in loss] == ["LoRA", "DoRA"]
    assert list(loss[0].y) == [0.7, 0.5, 0.3] and list(loss[0].x) == [1, 2, 3]
    assert list(acc[1].y) == pytest.approx([60.0, 85.0])  # accuracy drawn in percent
    assert loss[0].line.color == acc[0].line.color == METHOD_COLORS["lora"]
    assert loss[0].line.color != loss[1].line.color
    assert any(s.y0 == pytest.approx(62.0) for s in fig.layout.shapes)  # the head-only line
    assert "62.0%" in fig.layout.annotations[-1].text
    assert fig.layout.title.text
    assert fig.layout.xaxis.title.text == "optimizer step"
    assert "nats" in fig.layout.yaxis.title.text and "%" in fig.layout.yaxis2.title.text


def test_curves_empty_race_still_has_titles():
    fig = training_curves([])
    assert fig.layout.title.text and fig.layout.yaxis2.title.text == "test accuracy (%)"


def test_every_method_has_its_own_colour():
    assert set(METHODS) <= set(METHOD_COLORS)
    assert len({METHOD_COLORS[k] for k in METHODS}) == len(METHODS)
    assert METHOD_COLORS["lora"] == TRAINABLE


def test_confusion_matrix_counts_and_accuracy():
    matrix = [[40, 10], [5, 45]]
    fig = confusion_figure(matrix, ["loss", "win"])
    heat = fig.data[0]
    assert [list(r) for r in heat.z] == matrix
    assert list(heat.x) == ["loss", "win"] and list(heat.y) == ["loss", "win"]
    assert "85 of 100 correct (85.0%)" in fig.layout.title.text  # (40 + 45) / 100
    assert fig.layout.xaxis.title.text == "predicted label" and fig.layout.yaxis.title.text == "true label"
    big = confusion_figure([[1234, 0], [0, 1]], ["a", "b"])
    assert big.data[0].text[0][0] == "1,234"


def test_confusion_matrix_shape_is_checked():
    with pytest.raises(ValueError, match="2×2"):
        confusion_figure([[1, 2, 3]], ["a", "b"])


def test_probability_bars_base_vs_tuned():
    fig = probability_bars(["loss", "win"], base=[0.5, 0.5], tuned=[0.1, 0.9])
    base, tuned = fig.data
    assert base.name == "base model" and base.marker.color == FROZEN
    assert tuned.name == "fine-tuned" and tuned.marker.color == TRAINABLE
    assert list(tuned.y) == pytest.approx([10.0, 90.0])
    assert list(tuned.text) == ["10.0%", "90.0%"]
    assert fig.layout.yaxis.title.text == "probability (%)"
    with pytest.raises(ValueError):
        probability_bars(["a", "b"], [1.0], [0.5, 0.5])


def test_series_from_step_metrics_keeps_only_evaluated_accuracies():
    metrics = [StepMetrics(step, 3, loss, 0.5, acc, 0.1, 1, 0.0, 0.1)
               for step, loss, acc in ((1, 0.7, None), (2, 0.6, 0.75), (3, 0.4, 0.9))]
    run = series_of("LoRA", "lora", metrics)
    assert list(run.steps) == [1, 2, 3] and list(run.loss) == [0.7, 0.6, 0.4]
    assert list(run.eval_steps) == [2, 3] and list(run.accuracy) == [0.75, 0.9]


def test_loss_axis_starts_at_zero_and_holds_the_largest_loss():
    fig = training_curves([_run("lora", "LoRA")])
    assert tuple(fig.layout.yaxis.range) == pytest.approx((0.0, 0.77))  # 1.1 × the largest loss 0.7
