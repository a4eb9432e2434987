"""Inside one transformer block: where Houlsby adapters and (IA)³ vectors sit.

The structure is read from a real all-MiniLM-L6-v2 block with the method applied by
``peft_edu.apply`` (built on the meta device: real module shapes, no weights), walked in
the order the block runs. The (IA)³ values come from a real run on the tiny BERT
(``peft_edu.lessons.transformer``).

- Adapters (Houlsby et al., 2019, arXiv 1902.00751, Fig. 2): after the attention output
  projection and after the feed-forward output, d → m → d with a skip connection.
- (IA)³ (Liu et al., 2022, arXiv 2205.05638, §3.3): l_k and l_v scale keys and values,
  l_ff scales the input of the feed-forward down-projection.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

import peft_edu
from peft_edu.models import build_preset

BLOCK_MODEL = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class Stage:
    """One step of a block's forward pass."""

    name: str  # module path inside the block, e.g. "attention.self.query"
    kind: str  # "linear" | "norm" | "adapter_down" | "adapter_up" | "scale"
    d_in: int  # width going in
    d_out: int  # width coming out
    params: int  # parameters of this step
    trainable: bool


def _adapter_stages(name: str, module: nn.Module) -> list[Stage]:
    m, d = module.W_down.shape
    down = module.W_down.numel() + module.b_down.numel()
    up = module.W_up.numel() + module.b_up.numel()
    return [Stage(f"{name}.W_down", "adapter_down", d, m, down, module.W_down.requires_grad),
            Stage(f"{name}.W_up", "adapter_up", m, d, up, module.W_up.requires_grad)]


def _scale_stage(name: str, module: nn.Module) -> Stage:
    width = module.l.numel()
    where = "output" if module.side == "out" else "input"
    return Stage(f"{name}.l ({where})", "scale", width, width, width, module.l.requires_grad)


def block_stages(method: str, size: int | None = None, block: int = 0) -> list[Stage]:
    """The steps of one block of all-MiniLM-L6-v2 with ``method`` applied, in forward order."""
    from peft_edu.methods.adapter import Adapter
    from peft_edu.methods.ia3 import IA3

    knob = peft_edu.METHODS[method].size_knob
    config = {knob: size} if knob and size else {}
    model = peft_edu.apply(build_preset(BLOCK_MODEL, meta=True), method, train_head=False, **config)
    arch = model.peft_edu_applied.arch
    stages, scales = [], {}  # scales: base path -> the (IA)³ scale wrapped around it
    for name, module in model.get_submodule(f"{arch.blocks}.{block}").named_modules():
        trains = any(p.requires_grad for p in module.parameters(recurse=False))
        if isinstance(module, Adapter):
            stages += _adapter_stages(name, module)
        elif isinstance(module, IA3):
            scales[f"{name}.base"] = (module.side, _scale_stage(name, module))
        elif isinstance(module, nn.Linear):
            linear = Stage(name, "linear", module.in_features, module.out_features,
                           module.weight.numel() + (module.bias.numel() if module.bias is not None else 0),
                           trains)
            side, scale = scales.get(name, (None, None))
            # (IA)³: l ⊙ (W x) scales the output (k, v); W (l ⊙ a) the input (FFN down-projection)
            stages += [scale, linear] if side == "in" else [linear, scale] if side == "out" else [linear]
        elif isinstance(module, nn.LayerNorm):
            stages.append(Stage(name, "norm", module.normalized_shape[0], module.normalized_shape[0],
                                sum(p.numel() for p in module.parameters()), trains))
    return stages


@dataclass(frozen=True)
class ScalingVectors:
    """(IA)³'s trained vectors from a real run: l per block and place."""

    names: list[str]  # e.g. "l_k block 0"
    values: list[np.ndarray]  # the trained vectors (start: all ones)
    loss: list[float]


def ia3_vectors() -> ScalingVectors:
    """Adapt the tiny BERT with (IA)³ (E1's transformer lesson run) and read the final vectors."""
    from peft_edu.lessons.transformer import transformer_run

    run = transformer_run("ia3", n_frames=2)
    views = [v for v in run.tensors if v.name.startswith("l_")]
    return ScalingVectors([v.title for v in views], [run.last(v.name).reshape(-1) for v in views], run.loss)
