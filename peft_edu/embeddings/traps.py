"""The three ways fine-tuning makes retrieval worse, as switches on a run's settings.

Practitioners' most common report about embedding fine-tunes is "it got worse". Three
usual causes, each a change to an ``EmbedConfig``:

- a learning rate 10× too high: the pretrained geometry is wrecked faster than the new task
  is learned (catastrophic forgetting; often the loss still falls on the training pairs);
- duplicate pairs inside a batch: a copy of the positive sits among the in-batch negatives,
  so the loss pushes the right answer away (sentence-transformers' NoDuplicatesBatchSampler
  exists to prevent it); here each batch holds ``DUP_COPIES`` copies of each pair;
- a tiny batch: the ranking loss has batch_size − 1 negatives per question; 4 gives 3.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from peft_edu.embeddings.train import EmbedConfig

LR_FACTOR = 10.0
DUP_COPIES = 4
SMALL_BATCH = 4
LARGE_BATCH = 64  # what the small batch is compared with on the page


@dataclass(frozen=True)
class Trap:
    key: str  # "lr" | "duplicates" | "batch"
    title: str  # the switch's label
    short: str  # appended to a run's label
    why: str  # one sentence for the learner


TRAPS = (
    Trap("lr", f"Learning rate {LR_FACTOR:g}× too high", f"lr ×{LR_FACTOR:g}",
         "Large steps overwrite what the pretrained model knew about language before the new task is learned."),
    Trap("duplicates", "Duplicate pairs inside a batch", f"{DUP_COPIES} copies per batch",
         "A copy of the right passage is among the negatives: the loss pushes the answer away from its own question."),
    Trap("batch", f"Batch of {SMALL_BATCH} (vs {LARGE_BATCH})", f"batch {SMALL_BATCH}",
         f"Each question sees only {SMALL_BATCH - 1} in-batch negatives instead of {LARGE_BATCH - 1}: "
         "an easy task that teaches little."),
)


def with_traps(cfg: EmbedConfig, keys: set[str] | frozenset[str]) -> EmbedConfig:
    """``cfg`` with the traps named in ``keys`` switched on."""
    unknown = set(keys) - {t.key for t in TRAPS}
    if unknown:
        raise ValueError(f"unknown trap(s) {', '.join(sorted(unknown))}; choose from: "
                         f"{', '.join(t.key for t in TRAPS)}")
    changes: dict[str, object] = {}
    if "lr" in keys:
        changes["lr"] = cfg.lr * LR_FACTOR
    if "duplicates" in keys:
        changes["copies"] = DUP_COPIES
    if "batch" in keys:
        changes["batch_size"] = SMALL_BATCH
        changes["copies"] = 1 if "duplicates" not in keys else 2  # 4 pairs cannot hold 4 copies of 2
    return dataclasses.replace(cfg, **changes)


def trap_label(keys) -> str:
    """' · lr ×10 · batch 4' for the traps in ``keys`` ('' for none)."""
    return "".join(f" · {t.short}" for t in TRAPS if t.key in keys)
