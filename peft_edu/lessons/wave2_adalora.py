"""AdaLoRA's lesson (arXiv 2303.10512): the rank budget moving between layers in a real run.

``rank_run()`` adapts every linear layer of the pretrained tiny BERT of
``peft_edu.lessons.transformer`` (2 blocks, width 16) to its task B with AdaLoRA and records,
after every optimizer step, how many triplets each layer keeps and the total budget b(t)
of the cubic schedule. Every layer starts with r0 triplets; the budget falls to n · r, and
the allocator keeps the best-scoring triplets of all layers together, so the final ranks
are uneven. A few seconds on one CPU thread. The result is plain data (cacheable).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

import peft_edu
from peft_edu.lessons.core import Run, one_thread
from peft_edu.lessons.train import fit, method_adam, method_after_step
from peft_edu.lessons.transformer import LR, TASK_B, ce_on, pretrained, task_batch
from peft_edu.methods import adalora
from peft_edu.methods.layers import short_name


@dataclass(frozen=True)
class RankRun:
    """Kept triplets per adapted layer after every step of one AdaLoRA run."""

    layers: tuple[str, ...]  # "block 0 · attention.self.query", model order
    ranks: np.ndarray  # (n_layers, steps + 1): kept triplets after step t (t = 0: r0 everywhere)
    budget: list[int]  # b(t), t = 0..steps
    loss: list[float]  # task loss before each step, t = 0..steps
    r0: int  # starting rank of every layer
    r: int  # target average rank: the final budget is n · r
    tinit: int  # warm-up steps at b(0)
    tfinal: int  # last steps with the pattern fixed
    lr: float  # Adam learning rate

    @property
    def steps(self) -> int:
        return len(self.budget) - 1

    @property
    def final(self) -> dict[str, int]:
        return {name: int(k) for name, k in zip(self.layers, self.ranks[:, -1])}


def _label(name: str) -> str:
    block = re.search(r"\.(\d+)\.", name)
    return f"block {block.group(1)} · {short_name(name)}" if block else name.split(".", 1)[-1]


def rank_run(steps: int = 60, r: int = 2, init_r: int = 4, tinit: int = 5, tfinal: int = 15,
             lr: float = LR) -> RankRun:
    """AdaLoRA on every linear layer of the tiny BERT, budget from n·r0 to n·r over ``steps``."""
    with one_thread():
        model = peft_edu.apply(pretrained(), "adalora", targets="all-linear", train_head=True, r=r,
                               init_r=init_r, tinit=tinit, tfinal=tfinal, total_step=steps)
        names = tuple(adalora.svd_layers(model))
        cfg = model.peft_edu_applied.config
        kept = [[cfg.start_rank] * len(names)]
        budget = [len(names) * cfg.start_rank]
        update = method_after_step(model)

        def record(step: int) -> None:
            update(step)
            kept.append(list(adalora.ranks(model).values()))
            budget.append(adalora.budget(step, cfg, len(names))[0])

        run = fit(Run("adalora", ()), model, ce_on(*task_batch(TASK_B, seed=1)), steps,
                  method_adam(model, lr), after_step=record)
    return RankRun(tuple(_label(n) for n in names), np.array(kept).T, budget, run.loss, cfg.start_rank, r,
                   tinit, tfinal, lr)
