"""The "Compare methods" lesson: one table of all methods, and one task trained with each.

The table comes straight from the registry (``peft_edu.METHODS``). The race is a real
run of every method on the same task: the pretrained tiny BERT of
``peft_edu.lessons.transformer`` (trained on task A) adapts to task B with Adam at one
learning rate, the classifier head training in every run (as ``peft`` does for sequence
classification). It is a toy: at this size the ranking says how each method behaves on
a tiny model with 30 steps, not which method wins on a large one.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

import peft_edu
from peft_edu.lessons.core import Run, one_thread
from peft_edu.lessons.train import adam, fit
from peft_edu.lessons.transformer import LR, TASK_B, TinyBert, ce_on, pretrained, task_batch
from peft_edu.registry import METHODS

STEPS = 30  # optimizer steps per method: twelve runs must fit in a few seconds of a 2-core CPU

#: Size knobs of the race. One rank for the whole LoRA family, so the curves differ by method
#: only; VeRA gets r = d (its paper needs a large rank); Delta-LoRA's W starts moving early
#: because the run is 30 steps long, not the paper's thousands (paper: K = 500).
RACE_CONFIG: dict[str, dict] = {
    "full": {},
    "lora": {"r": 4, "alpha": 4.0},
    "lora_fa": {"r": 4, "alpha": 4.0},
    "vera": {"r": 16},
    "delta_lora": {"r": 4, "alpha": 4.0, "start_step": 10},
    "lora_plus": {"r": 4, "alpha": 4.0, "ratio": 16.0},
    "dora": {"r": 4, "alpha": 4.0},
    "qlora": {"r": 4, "alpha": 4.0},
    "prompt_tuning": {"n_tokens": 4},
    "prefix_tuning": {"n_tokens": 4},
    "adapter": {"bottleneck": 4},
    "ia3": {},
}


@dataclass(frozen=True)
class RaceResult:
    """Loss per step of one method on the shared task."""

    method: str  # registry key
    loss: list[float]  # cross-entropy before each step, steps 0..n
    trainable: int  # trainable parameters, head included
    trainable_without_head: int  # what the method itself adds or unfreezes
    config: dict  # the knobs used


@dataclass(frozen=True)
class Race:
    results: dict[str, RaceResult]  # method -> result, registry order
    steps: int  # optimizer steps of every run
    lr: float  # Adam learning rate of every run (LoRA+ : B gets ratio × lr)
    total: int  # parameters of the tiny BERT
    caption: str  # one sentence on the task


def _optimizer(method: str, model: nn.Module, lr: float, config: dict) -> torch.optim.Optimizer:
    if method == "lora_plus":
        from peft_edu.methods import lora_plus

        return adam(model, lr, lora_plus.param_groups(model, lr, config["ratio"]))
    return adam(model, lr)


def _after_step(method: str, model: nn.Module):
    if method != "delta_lora":
        return None
    from peft_edu.methods import delta_lora

    return lambda step: delta_lora.after_step(model)


def race_one(method: str, steps: int = STEPS, lr: float = LR) -> RaceResult:
    """Adapt the pretrained tiny BERT to task B with ``method`` (knobs from RACE_CONFIG)."""
    if method not in RACE_CONFIG:
        raise ValueError(f"unknown method {method!r}; choose one of: {', '.join(RACE_CONFIG)}")
    config = RACE_CONFIG[method]
    with one_thread():
        model = peft_edu.apply(pretrained(), method, train_head=True, **config)
        head = sum(p.numel() for p in model.classifier.parameters())
        trainable = peft_edu.trainable_parameters(model)
        run = fit(Run(method, ()), model, ce_on(*task_batch(TASK_B, seed=1)), steps,
                  _optimizer(method, model, lr, config), after_step=_after_step(method, model))
    return RaceResult(method, run.loss, trainable, trainable - head, dict(config))


def race(methods: tuple[str, ...] = tuple(METHODS), steps: int = STEPS, lr: float = LR) -> Race:
    """Every method on the same task, same steps, same learning rate."""
    results = {m: race_one(m, steps, lr) for m in methods}
    return Race(results, steps, lr, peft_edu.total_parameters(pretrained()), race_caption(steps, lr))


def race_caption(steps: int = STEPS, lr: float = LR) -> str:
    """One sentence on the shared task, for the figure's caption."""
    sizes = TinyBert()
    return (f"Same task for every method: a {sizes.n_layers}-block BERT of width {sizes.d_model}, "
            f"pretrained on task A, adapts to task B (128 sequences, Adam, lr {lr}, {steps} steps, "
            "the classifier head trains in every run).")


# ---------------------------------------------------------------- the registry table
TABLE_COLUMNS = ("Method", "Family", "Year", "What trains", "Trainable count",
                 "1000×1000 layer (r, m = 8)", "Mergeable", "Extra inference cost", "Memory notes")


def _plain(latex: str) -> str:
    """The count formula in plain text for a table cell (st.dataframe shows no LaTeX)."""
    out = latex
    for old, new in ((r"\text{", ""), (r"\ ", " "), (r"\,", " "), (r"\cdot", "·"), ("{", ""),
                     ("}", ""), ("\\", ""), ("_", "_")):
        out = out.replace(old, new)
    return " ".join(out.split())


def _layer_count(key: str) -> str:
    """Trainable parameters on one 1000×1000 linear layer, or why there is no such number."""
    size = {"r": 8} if METHODS[key].size_knob == "r" else {}
    if key == "adapter":
        size = {"bottleneck": 8}
    try:
        return f"{peft_edu.layer_params(key, 1000, 1000, **size):,}"
    except ValueError:
        return "per model, not per layer"


def method_table() -> list[dict[str, str]]:
    """One row per registry method, in registry order: the comparison table."""
    rows = []
    for key, spec in METHODS.items():
        rows.append({
            "Method": spec.name, "Family": spec.family, "Year": str(spec.year),
            "What trains": spec.trainable, "Trainable count": _plain(spec.count_formula),
            "1000×1000 layer (r, m = 8)": _layer_count(key),
            "Mergeable": "yes" if spec.mergeable else "no",
            "Extra inference cost": spec.inference_cost, "Memory notes": spec.memory_note,
        })
    return rows
