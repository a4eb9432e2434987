"""The method pages' runs, counts and figures (peft_edu.lessons.explainer/counts, peft_edu.viz).

Independent checks: frozen tensors never change and trainable ones do, shapes are the
layer's true ones, ΔW = (α/r)·B·A, counts equal the closed forms, the counted module equals
the formula, and the figure's frames match the recorded snapshots.
"""
import numpy as np
import pytest

import peft_edu
from peft_edu import METHODS
from peft_edu.lessons.counts import BIG, fill_formula, page_counts
from peft_edu.lessons.explainer import check_size, knob_of, layer_sources, page_run
from peft_edu.lessons.toy import ToyTask
from peft_edu.viz.grid import matrix_row

TASK = ToyTask()


@pytest.mark.parametrize("key", list(METHODS))
def test_page_run_frozen_stays_trainable_moves_loss_falls(key):
    run = page_run(key)
    assert len(run.frames) == len(run.steps) >= 10 and run.steps[0] == 0
    for view in run.tensors:
        first, last = run.first(view.name), run.last(view.name)
        if view.role == "frozen":
            np.testing.assert_array_equal(first, last)
        elif view.role == "trainable":
            assert not np.array_equal(first, last), f"{view.name} of {key} never changed"
    assert run.loss[-1] < run.loss[0]


@pytest.mark.parametrize("key", ["lora", "lora_fa", "dora", "qlora", "lora_plus", "delta_lora"])
def test_lora_family_true_shapes(key):
    r = 8
    run = page_run(key, r)
    assert run.first("B").shape == (TASK.d_hidden, r)
    assert run.first("A").shape == (r, TASK.d_in)
    assert not run.first("B").any()  # B starts at zero: training starts from the pretrained layer


def test_lora_delta_is_scaled_product():
    run = page_run("lora", 4)  # the page sets alpha = r: scaling 1
    np.testing.assert_allclose(run.last("dW"), run.last("B") @ run.last("A"), atol=1e-5)


def test_delta_lora_moves_w_only_after_k():
    run = page_run("delta_lora")
    K = 20  # what the page's caption promises
    assert f"from K = {K} on" in run.caption
    for step, frame in zip(run.steps, run.frames):
        moved = np.abs(frame["W_moved"]).max()
        assert (moved > 0) == (step > K), (step, moved)


def test_bad_size_is_a_clear_error():
    with pytest.raises(ValueError, match="must be one of"):
        check_size("lora", 3)


@pytest.mark.parametrize("key", list(METHODS))
@pytest.mark.parametrize("pick", ["first", "last"])
def test_counts_match_closed_forms(key, pick):
    knob = knob_of(key)
    size = knob.options[0] if pick == "first" else knob.options[-1]
    rows = page_counts(key, size)
    if key in ("prompt_tuning", "prefix_tuning"):
        per_token = 384 if key == "prompt_tuning" else 2 * 6 * 384  # all-MiniLM-L6-v2: d 384, L 6
        assert rows[0].trainable == size * per_token
        return
    d = BIG if knob.arg else size
    assert rows[0].trainable == peft_edu.layer_params(key, d, d, **knob.config(size))
    for row in rows:
        if row.counted is not None:
            assert row.counted == row.trainable  # built module == closed form
        assert row.formula == "" or row.formula.endswith(f"{row.trainable:,}".replace(",", "{,}"))


def test_fill_formula():
    assert fill_formula(r"r\,(d_{in} + d_{out})", {"r": 4, "d_{in}": 1000, "d_{out}": 1000}) == \
        r"4 \cdot (1{,}000 + 1{,}000)"
    assert fill_formula(r"2\,d\,m + d + m \ \text{per adapter}", {"d": 16, "m": 4}) == \
        r"2 \cdot 16 \cdot 4 + 16 + 4 \ \text{per adapter}"


def test_sources_are_the_real_modules():
    import inspect

    from peft_edu.methods import dora, lora

    titles = [t for t, _ in layer_sources("dora")]
    assert titles[0] == "peft_edu/methods/dora.py"
    assert layer_sources("dora")[0][1] == inspect.getsource(dora)
    assert layer_sources("dora")[1][1] == inspect.getsource(lora.LoRALinear)


def test_grid_same_square_for_every_number():
    shapes = [(16, 24), (16, 4), (4, 24), (16, 1)]
    row = matrix_row(shapes, ["W", "B", "A", "m"], width=1000)
    for (r, c), (x0, x1), (y0, y1) in zip(shapes, row.x, row.y):
        assert (x1 - x0) * 1000 == pytest.approx(c * row.cell)
        assert (y1 - y0) * row.height == pytest.approx(r * row.cell)
    assert all(row.x[i][1] <= row.x[i + 1][0] for i in range(len(shapes) - 1))  # no overlap


def test_animation_frames_follow_the_run():
    from peft_edu.viz.matrices import tensor_animation

    run = page_run("lora", 4)
    fig = tensor_animation(run, "t")
    assert [f.name for f in fig.frames] == [str(s) for s in run.steps]
    assert fig.layout.updatemenus[0].buttons[0].label.endswith("Play")
    b_index = [v.name for v in run.tensors].index("B")
    last = fig.frames[-1]
    z = last.data[list(last.traces).index(b_index)].z
    np.testing.assert_allclose(np.array(z), run.last("B"), atol=1e-4)
    w0 = fig.data[[v.name for v in run.tensors].index("W0")]
    assert np.array(w0.z).shape == (TASK.d_hidden, TASK.d_in)  # true shape, rows = d_out
