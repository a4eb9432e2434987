"""The "Compare methods" lesson: one table of all methods, and one task trained with each.

The table comes straight from the registry (``peft_edu.METHODS``). The race is a real
run of every method on the same task: the pretrained tiny BERT of
``peft_edu.lessons.transformer`` (trained on task A) adapts to task B with Adam at one
learning rate, the classifier head training in every run (as ``peft`` does for sequence
classification). It is a toy: at this size the ranking says how each method behaves on
a tiny model with 30 steps, not which method wins on a large one.
"""
from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass

import torch

import peft_edu
from peft_edu.lab.run_memory import SavedTensorMeter, state_split
from peft_edu.lessons.core import Run, one_thread
from peft_edu.lessons.train import fit, method_adam, method_after_step
from peft_edu.lessons.transformer import LR, TASK_A, TASK_B, TinyBert, ce_on, lesson_model, pretrained, task_batch
from peft_edu.methods import protocol
from peft_edu.registry import METHODS

STEPS = 30  # optimizer steps per method: twelve runs must fit in a few seconds of a 2-core CPU

@dataclass(frozen=True)
class RaceResult:
    """Loss per step of one method on the shared task."""

    method: str  # registry key
    loss: list[float]  # cross-entropy before each step, steps 0..n
    trainable: int  # trainable parameters, head included
    trainable_without_head: int  # what the method itself adds or unfreezes
    config: dict  # the knobs that differ from the method's defaults
    lr: float = LR  # the Adam learning rate of this run
    test_accuracy: float = 0.0  # task B accuracy on held-out sequences (TEST_SEED), after training
    cpu_seconds: float = 0.0  # CPU time of the training steps (one thread)
    memory_bytes: int = 0  # what the run held: weights, gradients, optimizer state, saved activations
    forgetting: float = 0.0  # task A held-out loss with the pre-training head, after minus before (nats)


@dataclass(frozen=True)
class Race:
    results: dict[str, RaceResult]  # method -> result, registry order
    steps: int  # optimizer steps of every run
    lr: float  # Adam learning rate of every run (LoRA+ : B gets ratio × lr)
    total: int  # parameters of the tiny BERT
    caption: str  # one sentence on the task


RACE_LRS = (0.003, 0.01, 0.03, 0.1)  # the rates each method's own race rate was chosen from
TRAIN_SEED, TEST_SEED, FORGET_SEED = 1, 2, 3  # task B training batch, task B test set, task A held-out text
N_HELD_OUT = 512  # sequences of each held-out set


def own_lr(method: str) -> float:
    """The method's own measured race rate (its ``LESSON.race_lr``), or the shared LR."""
    lesson_lr = protocol(method).lesson.race_lr
    return LR if lesson_lr is None else lesson_lr


def race_one(method: str, steps: int = STEPS, lr: float | None = None) -> RaceResult:
    """Adapt the pretrained tiny BERT to task B with ``method``, with the knobs of its module's
    ``LESSON`` (the LoRA family all at r = 4, so the curves differ by method only), at ``lr``
    (None: the method's own measured rate, ``own_lr``)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")
    lr = own_lr(method) if lr is None else lr
    with one_thread():
        model = lesson_model(method)
        head = sum(p.numel() for p in model.classifier.parameters())
        trainable = peft_edu.trainable_parameters(model)
        optimizer = method_adam(model, lr)
        loss_fn = ce_on(*task_batch(TASK_B, seed=TRAIN_SEED))
        cpu0 = time.thread_time()
        run = fit(Run(method, ()), model, loss_fn, steps,
                  optimizer, after_step=method_after_step(model, optimizer, steps))
        cpu = time.thread_time() - cpu0
        model.train()
        activations = saved_activation_bytes(model, loss_fn)  # after training: a forward pass can leave state behind
        memory = state_bytes(model, optimizer) + activations
        accuracy = test_accuracy(model)
        forgot = forgetting(model)
    return RaceResult(method, run.loss, trainable, trainable - head, changed_knobs(model.peft_edu_applied.config), lr,
                      accuracy, cpu, memory, forgot)


def state_bytes(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Bytes of the run's own tensors: weights and buffers, gradients, optimizer state (each tensor once)."""
    return sum(state_split(model, optimizer))


def saved_activation_bytes(model: torch.nn.Module, loss_fn) -> int:
    """Bytes autograd keeps for the backward pass of one step on the race batch: every tensor
    saved for backward, each storage counted once, parameters excluded (they are counted as
    weights). Measured with ``torch.autograd.graph.saved_tensors_hooks`` (``SavedTensorMeter``,
    as the lab measures its runs); no step is taken."""
    meter = SavedTensorMeter()
    with meter.measure(model):
        loss = loss_fn(model)
    del loss
    return meter.peak


@torch.no_grad()
def test_accuracy(model: torch.nn.Module) -> float:
    """Task B accuracy on ``N_HELD_OUT`` sequences the run never trained on."""
    ids, labels = task_batch(TASK_B, n=N_HELD_OUT, seed=TEST_SEED)
    model.eval()
    return float((model(input_ids=ids).logits.argmax(-1) == labels).float().mean())


@torch.no_grad()
def pretraining_loss(model: torch.nn.Module, head: torch.nn.Module) -> float:
    """The pre-training objective (task A cross-entropy) on held-out sequences, read through
    ``head`` (the classifier as pre-training left it) on a copy of ``model``."""
    probe = copy.deepcopy(model)
    probe.classifier = copy.deepcopy(head)
    probe.eval()
    ids, labels = task_batch(TASK_A, n=N_HELD_OUT, seed=FORGET_SEED)
    return float(probe(input_ids=ids, labels=labels).loss)


def forgetting(model: torch.nn.Module) -> float:
    """How much of its pre-training the adapted model lost: the task A held-out loss through the
    pre-training head, after minus before — the tiny BERT's stand-in for the change of a language
    model's masked-LM loss on held-out general text that peft's method comparison reports."""
    base = pretrained()
    return pretraining_loss(model, base.classifier) - pretraining_loss(base, base.classifier)


def pareto_front(points: dict[str, tuple[float, float]]) -> list[str]:
    """Keys whose (cost, accuracy) no other point beats: none has lower or equal cost with
    higher or equal accuracy and is strictly better in one. Sorted by cost."""
    front = [k for k, (c, a) in points.items()
             if not any((c2 <= c and a2 >= a) and (c2 < c or a2 > a) for c2, a2 in points.values())]
    return sorted(front, key=lambda k: points[k])


def changed_knobs(config) -> dict:
    """The knobs of ``config`` that differ from the method's defaults (the paper's)."""
    default = type(config)()
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
            if getattr(config, f.name) != getattr(default, f.name)}


def race(methods: tuple[str, ...] = tuple(METHODS), steps: int = STEPS, same_settings: bool = False) -> Race:
    """Every method on the same task and steps: each at its own measured learning rate, or, with
    ``same_settings``, all at the shared LR (the unfair race: one rate does not suit every method)."""
    results = {m: race_one(m, steps, LR if same_settings else None) for m in methods}
    return Race(results, steps, LR, peft_edu.total_parameters(pretrained()), race_caption(steps, same_settings))


def race_caption(steps: int = STEPS, same_settings: bool = False) -> str:
    """What was held equal in the race, and what was not, for the figure's caption."""
    sizes = TinyBert()
    equal = (f"Held equal for every method: the task (a {sizes.n_layers}-block BERT of width {sizes.d_model}, "
             f"pretrained on task A, adapts to task B: the same 128 sequences), {steps} Adam steps, the seed, and "
             "the classifier head training in every run.")
    if same_settings:
        return equal + f" Same settings: every method at learning rate {LR} (LoRA+ gives B its ratio × that)."
    return equal + (" Not equal: the learning rate — each method runs at its own, the best final loss of "
                    f"{', '.join(str(r) for r in RACE_LRS)} measured on this task (scripts/measure_race_lrs.py).")


def best_lrs(methods: tuple[str, ...] = tuple(METHODS), steps: int = STEPS,
             rates: tuple[float, ...] = RACE_LRS) -> dict[str, tuple[float, dict[float, float]]]:
    """For each method: (the rate with the lowest final race loss, {rate: final loss})."""
    out = {}
    for m in methods:
        finals = {lr: race_one(m, steps, lr).loss[-1] for lr in rates}
        out[m] = (min(finals, key=finals.get), finals)
    return out


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
    knob = METHODS[key].size_knob
    size = {knob: 8} if knob else {}
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
