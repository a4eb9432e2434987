"""LN tuning: Tuning LayerNorm in Attention: Towards Efficient Multi-Modal LLM Finetuning
(Zhao et al., 2023, arXiv 2312.11420).

    LN(x) = γ ⊙ (x − μ) / σ + β        (RMSNorm: γ ⊙ x / rms(x), no β)

Only the normalisation layers' gain γ and bias β train; every weight matrix stays frozen.
The paper finds that "simply tuning LayerNorm" — the norms of every attention block — is
a strong and very cheap way to adapt a model to a new domain (§3; it changes the
statistics each block sees, a "domain adaptor"). Trainable: 2·d per LayerNorm, d per
RMSNorm; every norm of the model trains (BERT: the embeddings' norm and two per block;
GPT-2 and Llama: two per block and the final one), as Hugging Face peft's LN_TUNING picks
for Llama (``input_layernorm``, ``post_attention_layernorm``, ``norm``).

Nothing is wrapped: ``inject`` unfreezes each norm's own γ and β, so the model equals the
base at step 0 and there is nothing to merge. On disk it is peft's LN_TUNING: peft keeps a
trained copy of each norm as ``ln_tuning_layers``, so the keys are
``base_model.model.<norm>.ln_tuning_layers.weight`` (γ) and ``.bias`` (β).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from peft_edu.methods import LabDefaults, LessonDefaults, Watched
from peft_edu.methods.own_tensors import facts, first_block, n_norms, norm_modules
from peft_edu.sizing.profile import ActivationProfile, ModelShape

USES_TARGETS = False  # every norm trains: no linear layers to choose
PEFT_KEY = ".ln_tuning_layers."  # peft's name for its trained copy of a norm


@dataclass(frozen=True)
class Config:
    """LN tuning has no knobs: the norms' own γ and β are what trains."""


def layer_params(d_out: int, d_in: int, cfg: Config) -> int:
    """One LayerNorm of width d = d_out after the layer: γ and β, 2 d (an RMSNorm: d, as
    ``model_params`` counts for Llama)."""
    return 2 * d_out


def model_params(arch, cfg: Config) -> int:
    """(2 L + 1) norms of width d: 2 d each (LayerNorm), d each (RMSNorm)."""
    per_norm = 2 * arch.d_model if facts(arch).has_bias else arch.d_model
    return n_norms(arch) * per_norm


def inject(model: nn.Module, cfg: Config, arch) -> None:
    """Unfreeze every normalisation layer outside the head (apply() froze the model first)."""
    norms = norm_modules(model, arch)
    if not norms:
        raise ValueError(f"LN tuning needs normalisation layers; this {arch.family} model has none")
    for norm in norms.values():
        norm.requires_grad_(True)


# The lab (all-MiniLM-L6-v2, batch 16): only 9,984 numbers move, so a large step. Measured at
# load average ~5 on the shared 2-core CPU: 99.6 % test accuracy at step 100 (50 % at steps
# 25-75: the run sits on a plateau, then jumps), 159 s wall, 95 s CPU.
# Measured at stop 26 (`train(defaults(...))`, seeds 0-2, model dropout off, load 1.3-2.3):
# 85 steps: seeds 0 and 1 reach 90 % at steps 70 / 65 and end at 95.4 / 95.0 %, 14.0-14.4 s wall; seed 2
# stays at chance (as at 100 steps); 100 steps had taken 17.2 s in benchmarks/bench_lab.py --all.
LAB = LabDefaults(lr=1e-2, steps=85)


# ---------------------------------------------------------------- on disk (peft_edu.export)
def peft_config(cfg: Config, arch, model: nn.Module) -> dict:
    """peft's LNTuningConfig keys: the norms by full name (peft matches them exactly)."""
    return {"target_modules": list(norm_modules(model, arch)), "exclude_modules": None}


def peft_options(config: dict) -> dict:
    return {}  # no knobs: every norm trains


def peft_model_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every norm's γ and β under peft's key (peft holds them in a copy, ``ln_tuning_layers``)."""
    arch = model.peft_edu_applied.arch
    return {f"base_model.model.{name}{PEFT_KEY}{leaf}": p for name, norm in norm_modules(model, arch).items()
            for leaf, p in norm.named_parameters(recurse=False)}


def from_peft_model_tensor(model: nn.Module, key: str, value: torch.Tensor) -> dict[str, torch.Tensor] | None:
    """peft's ``<norm>.ln_tuning_layers.<weight|bias>`` as the norm's own parameter."""
    if PEFT_KEY not in key:
        return None
    name, leaf = key.removeprefix("base_model.model.").split(PEFT_KEY)
    return {f"{name}.{leaf}": value}


# ---------------------------------------------------------------- the method page
# Compare race: Adam lr 0.03, the best final loss of 0.003/0.01/0.03/0.1 (scripts/measure_race_lrs.py)
LESSON = LessonDefaults("transformer", note="Only the layer norms' γ and β (and the head) move.", race_lr=0.03)


def watch(model: nn.Module) -> list[Watched]:
    """γ and β of block 0's norms (vectors, drawn as columns)."""
    arch = model.peft_edu_applied.arch
    prefix = first_block(arch)
    views = []
    for name, norm in norm_modules(model, arch).items():
        if name.startswith(prefix):
            rel = name[len(prefix):]
            for leaf, p in norm.named_parameters(recurse=False):
                symbol = "γ" if leaf == "weight" else "β"
                views.append(Watched(f"{leaf}_{rel}", f"{symbol} of {rel}", "trainable", "d", "1", lambda p=p: p))
    return views


# ---------------------------------------------------------------- the calculator
def activation_profile(shape: ModelShape, cfg: Config, targets: tuple[str, ...]) -> ActivationProfile:
    """γ's gradient needs the normalised input, which the frozen model already keeps (it
    passes gradients back through every norm): nothing more is kept."""
    return ActivationProfile()
