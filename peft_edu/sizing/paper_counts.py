"""Trainable-parameter counts that papers report, for the configurations they state.

The calculator shows one of these beside its own count when the configuration on screen
is the paper's (same preset, method, rank and target matrices). Papers leave the task head
out of their counts, so they are compared with ``trainable_without_head``.
"""
from __future__ import annotations

from dataclasses import dataclass

LORA = "Hu et al. 2021, LoRA (arXiv 2106.09685)"
VERA = "Kopiczko et al. 2023, VeRA (arXiv 2310.11454)"


@dataclass(frozen=True)
class PaperCount:
    """One count a paper reports."""

    model: str  # preset name
    method: str  # registry key
    knob: int | None  # r (LoRA family, VeRA); None where the method has no size knob
    targets: tuple[str, ...]  # generic target names (q, k, v, o, mlp); () for full fine-tuning
    value: float  # the paper's number, in parameters
    shown: str  # as the paper prints it, e.g. "0.3M"
    source: str  # paper and table
    note: str = ""  # why ours may differ


PAPER_COUNTS = (
    PaperCount("roberta-base", "lora", 8, ("q", "v"), 0.3e6, "0.3M", f"{LORA}, Table 2"),
    PaperCount("roberta-large", "lora", 8, ("q", "v"), 0.8e6, "0.8M", f"{LORA}, Table 2"),
    PaperCount("gpt2-medium", "lora", 4, ("q", "v"), 0.35e6, "0.35M", f"{LORA}, Table 3",
               "The paper's formula Θ = 2·L̂·d·r (§5.1, L̂ = 48 adapted matrices) gives 2·48·1024·4 = "
               "393,216 (0.39M), as we count; Table 3 prints 0.35M."),
    PaperCount("gpt2-large", "lora", 4, ("q", "v"), 0.77e6, "0.77M", f"{LORA}, Table 3",
               "The paper's formula Θ = 2·L̂·d·r (§5.1, L̂ = 72 adapted matrices) gives 2·72·1280·4 = "
               "737,280 (0.74M), as we count; Table 3 prints 0.77M."),
    PaperCount("GPT-3-175B", "lora", 8, ("q", "v"), 37.7e6, "37.7M", f"{LORA}, Table 4"),
    PaperCount("GPT-3-175B", "lora", 4, ("q", "v"), 18e6, "18M", f"{LORA}, Table 5",
               "Table 5 gives every choice of matrices the same budget of about 18M; for r=4 on Wq, Wv "
               "that is 96·2·4·(12,288 + 12,288) = 18,874,368."),
    PaperCount("roberta-base", "vera", 1024, ("q", "v"), 0.043e6, "0.043M", f"{VERA}, Table 2"),
    PaperCount("roberta-large", "vera", 256, ("q", "v"), 0.061e6, "0.061M", f"{VERA}, Table 2"),
    PaperCount("roberta-base", "full", None, (), 125.0e6, "125.0M", f"{LORA}, Table 2"),
    PaperCount("roberta-large", "full", None, (), 355.0e6, "355.0M", f"{LORA}, Table 2"),
    PaperCount("gpt2-medium", "full", None, (), 354.92e6, "354.92M", f"{LORA}, Table 3"),
    PaperCount("gpt2-large", "full", None, (), 774.03e6, "774.03M", f"{LORA}, Table 3"),
    PaperCount("GPT-3-175B", "full", None, (), 175_255.8e6, "175,255.8M", f"{LORA}, Table 4"),
)


def paper_count(model: str, method: str, knob: int | None, targets: tuple[str, ...]) -> PaperCount | None:
    """The paper's count for exactly this configuration, or None. A count without a knob
    (full fine-tuning) holds whatever the knobs and targets on screen."""
    for p in PAPER_COUNTS:
        if (p.model, p.method) != (model, method):
            continue
        if p.knob is None or (p.knob == knob and set(p.targets) == set(targets)):
            return p
    return None
