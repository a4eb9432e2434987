"""The pre-training experiment in words and in a table, computed from its numbers.

Nothing here is written in advance: every comparison ("higher", "closes part of the gap")
is decided by the recorded losses, ranks and bytes of ``peft_edu.lessons.pretraining``.
"""
from __future__ import annotations

import numpy as np

from peft_edu.lessons.pretraining import FULL, GALORE, LORAS, RELORA, Experiment, RunResult, spec
from peft_edu.viz.style import fmt_bytes, fmt_int


def _pct(a: float, b: float) -> str:
    """How much a is above (or below) b, in words: '+12 %'."""
    return f"{100 * (a / b - 1):+.0f} %"


def _max_rank(run: RunResult) -> int:
    return max(run.ranks().values())


def _median(values) -> int:
    return int(np.median(list(values)))


def _rank_trend(loras: list[RunResult]) -> str:
    """How the LoRA runs' held-out losses order by rank, in words."""
    order = [run.held[-1] for run in loras]
    if order == sorted(order, reverse=True):
        return "the lower the rank, the higher the loss"
    if order[0] == max(order):
        rest = loras[1:]
        low, high = min(r.held[-1] for r in rest), max(r.held[-1] for r in rest)
        ranks = " and ".join(f"r = {r.r}" for r in rest)
        return (f"r = {loras[0].r} is far behind, while {ranks} end within {100 * (high / low - 1):.0f} % of "
                "each other (more rank buys little more at this budget)")
    return "not in rank order at this budget"


def loss_finding(exp: Experiment) -> str:
    full, loras = exp.run(FULL), [exp.run(label) for label in LORAS]
    behind = [run for run in loras if run.held[-1] > full.held[-1]]
    trend = _rank_trend(loras)
    each = ", ".join(f"r = {run.r}: {run.held[-1]:.3f} ({_pct(run.held[-1], full.held[-1])})" for run in loras)
    verdict = (f"every LoRA run stays above it — {trend}" if len(behind) == len(loras)
               else f"{len(behind)} of the {len(loras)} LoRA runs stay above it ({trend})")
    return (f"**Loss.** With the same {fmt_int(exp.budget.tokens)} characters, full training reaches a held-out "
            f"loss of **{full.held[-1]:.3f}** nats per character (from {full.held[0]:.2f} at the random start); "
            f"{verdict}: {each}.")


def rank_finding(exp: Experiment) -> str:
    full, loras = exp.run(FULL), [exp.run(label) for label in LORAS]
    capped = all(_max_rank(run) <= run.r for run in loras)
    n_dirs = min(len(s) for s in full.spectra.values())
    lora_part = (f"LoRA's change never exceeds its rank (largest over the {len(full.spectra)} layers: "
                 + ", ".join(f"{_max_rank(run)} at r = {run.r}" for run in loras) + ")" if capped
                 else "LoRA's change exceeded r in some layer (numerical noise?)")
    return (f"**Rank.** {lora_part}: around frozen random weights, a rank-r change is all it can build. Full "
            f"training moves every layer in {min(full.ranks().values())}–{_max_rank(full)} of at most {n_dirs} "
            f"directions, and 90 % of its change needs a median of **{_median(full.energy_ranks().values())}** of "
            f"them per layer — more than r = {loras[0].r} offers, so r = {loras[0].r} falls short first.")


def relora_finding(exp: Experiment) -> str:
    relora, lora = exp.run(RELORA), exp.run(LORAS[1])
    options = dict(spec(RELORA).options)
    pieces = exp.budget.steps // options["reset_every"]
    gained = _max_rank(relora) > relora.r
    better = relora.held[-1] < lora.held[-1]
    return (f"**ReLoRA** merged B·A into W every {options['reset_every']} steps, so W − W₀ is a sum of {pieces} "
            f"rank-{relora.r} updates: its rank reaches **{_max_rank(relora)}** (median "
            f"{_median(relora.ranks().values())}), {'above' if gained else 'not above'} r = {relora.r}, with LoRA "
            f"r = {lora.r}'s {fmt_int(relora.trainable)} trainable parameters and "
            f"{fmt_bytes(relora.optimizer_bytes)} of optimizer state. Held-out loss {relora.held[-1]:.3f} vs "
            f"LoRA r = {lora.r}'s {lora.held[-1]:.3f}: "
            + ("the restarts help." if better else "at this tiny budget the restarts do not pay off yet.")
            + " (The paper also starts with a short full-rank warm-up, left out here.)")


def galore_finding(exp: Experiment) -> str:
    galore, full = exp.run(GALORE), exp.run(FULL)
    gap = dict(spec(GALORE).options)["update_proj_gap"]
    share = galore.optimizer_bytes / full.optimizer_bytes
    return (f"**GaLore** trains every weight ({fmt_int(galore.trainable)} parameters, like full training) but keeps "
            f"Adam's moments of a rank-{galore.r} projection of each gradient, refreshed every {gap} steps: its "
            f"optimizer state is **{fmt_bytes(galore.optimizer_bytes)}**, {100 * share:.0f} % of full training's "
            f"{fmt_bytes(full.optimizer_bytes)}, and because the subspace moves, its change reaches rank "
            f"{_max_rank(galore)}. Held-out loss {galore.held[-1]:.3f} vs full training's {full.held[-1]:.3f} "
            f"({_pct(galore.held[-1], full.held[-1])}).")


def bottom_line(exp: Experiment) -> str:
    full, low = exp.run(FULL), exp.run(LORAS[0])
    relora, galore = exp.run(RELORA), exp.run(GALORE)
    best = min((relora, galore), key=lambda run: run.held[-1])
    return (f"**So:** pre-training has to build the weights, and that change is high-rank; a fixed low-rank "
            f"update caps it (LoRA r = {low.r}: {_pct(low.held[-1], full.held[-1])} held-out loss against full "
            f"training). Fine-tuning only nudges weights that are already good, which a low rank can do. The "
            f"pre-training variants keep a small optimizer state yet let the total change grow in rank; here "
            f"{best.label} comes closest to full training ({_pct(best.held[-1], full.held[-1])}).")


def conclusions(exp: Experiment) -> list[str]:
    """The experiment in five plain-word paragraphs, every number and comparison from the runs."""
    return [loss_finding(exp), rank_finding(exp), relora_finding(exp), galore_finding(exp), bottom_line(exp)]


def table(exp: Experiment) -> list[dict]:
    """One row per run: losses, ranks, memory and time."""
    return [{"run": run.label, "held-out loss": round(run.held[-1], 3), "training loss": round(run.train[-1], 3),
             "rank of W − W₀ (min–max)": f"{min(run.ranks().values())}–{_max_rank(run)}",
             "90 % energy rank (median)": _median(run.energy_ranks().values()),
             "trainable parameters": fmt_int(run.trainable), "gradients": fmt_bytes(run.grad_bytes),
             "optimizer state": fmt_bytes(run.optimizer_bytes), "wall s": round(run.wall_s, 1),
             "CPU s": round(run.cpu_s, 1)} for run in exp.runs]
