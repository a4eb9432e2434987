"""BitFit: Simple Parameter-efficient Fine-tuning for Transformer-based Masked
Language-models (Ben Zaken, Goldberg and Ravfogel, 2021, arXiv 2106.10199).

    y = W0 x + b        W0 frozen, only the bias b trains

"We freeze most of the transformer-encoder parameters, and train only the bias-terms and
the task-specific classification layer" (§1). Every bias of the encoder trains: those of
the query, key, value and output projections, of both feed-forward layers and of the layer
norms (§3.1); about 0.08 % of BERT-large. The paper also trains a smaller subset — only the
query bias and the second feed-forward bias (§4, "only b_q and b_m2", 0.04 %) — and finds
it nearly as good; this module trains all of them, and the page says so.

Nothing is wrapped and nothing is added: ``inject`` unfreezes the model's own bias vectors,
so the model equals the base at step 0 and there is nothing to merge (the result already
is a plain model). Trainable per linear layer: d_out (its bias). Llama-family models have
no bias terms at all, so BitFit trains nothing there (the calculator says so).

On disk (peft has no BitFit): peft_edu's own format (``peft_edu.export``), every trained
bias under its model name (``bert.encoder.layer.0.attention.self.query.bias`` (d_out,),
``...LayerNorm.bias`` (d,)) plus the head, and ``"method": "bitfit"`` in adapter_config.json.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from peft_edu.methods import LabDefaults, LessonDefaults, Watched
from peft_edu.methods.own_tensors import bias_parameters, facts
from peft_edu.sizing.profile import ActivationProfile, ModelShape

USES_TARGETS = False  # every bias trains: no layers to choose
SAVED_AS = "peft_edu"  # peft has no BitFit: our own format, every trained bias by name


@dataclass(frozen=True)
class Config:
    """BitFit has no knobs: which tensors train (all biases) is the method (§3.1)."""


def layer_params(d_out: int, d_in: int, cfg: Config) -> int:
    return d_out  # the layer's bias b (d_out,); W0 (d_out × d_in) stays frozen


def model_params(arch, cfg: Config) -> int:
    """Biases of every block's linear layers (Σ d_out) and of its norms (2 d), times L, plus
    the norm outside the blocks (d). BERT's pooler bias (d more) and the head are counted by
    ``peft_edu.count`` from the built model. Llama: no biases, 0."""
    f = facts(arch)
    if arch.family == "mlp":  # the toy MLP: its layers are the "blocks", each with a bias
        return sum(d_out for _, d_out, _ in arch.shapes)
    linear = sum(d_out for _, d_out, _ in arch.shapes) if f.linear_bias else 0
    norms = arch.d_model if f.has_bias else 0
    return arch.n_layers * (linear + f.per_block * norms) + f.outside * norms


def inject(model: nn.Module, cfg: Config, arch) -> None:
    """Unfreeze every bias outside the head (apply() froze the whole model first)."""
    for p in bias_parameters(model, arch).values():
        p.requires_grad_(True)


# The lab (all-MiniLM-L6-v2, batch 16), measured at load average ~5 on the shared 2-core CPU:
# lr 1e-3, 150 steps: 96.2 % test accuracy (91.7 % at step 125), 262 s wall, 168 s CPU.
# Larger steps fail: lr 3e-3 (100 steps), 1e-2 (100) and 3e-2 (150) stayed at 50 %, the loss at
# ln 2 — the biases of every norm and projection moving at once wash out the [CLS] features.
# With the model's own dropout off (the lab's default since stop 25), at load ~1.7: lr 1e-3 took
# 65-80 steps to 90 % and 120 steps took 18 s; lr 2e-3 reached 90 % by step 50-65 (seeds 0-2) and
# 94.6-98.8 % at step 100; 90 steps were the default then.
# Measured at stop 26 (`train(defaults(...))`, seeds 0-2, model dropout off, load 1.3-2.3):
# 80 steps reach 90 % by step 50-65, 98.8-99.2 % at the end, 13.2-14.4 s wall; 90 steps had taken 16.2 s
# in benchmarks/bench_lab.py --all.
LAB = LabDefaults(lr=2e-3, steps=80)


# ---------------------------------------------------------------- the method page
# Compare race: Adam lr 0.03, the best final loss of 0.003/0.01/0.03/0.1 (scripts/measure_race_lrs.py)
LESSON = LessonDefaults("transformer", note="Only the bias vectors (and the head) move; every weight matrix stays as it was.", race_lr=0.03)


def watch(model: nn.Module) -> list[Watched]:
    """The bias vectors of block 0's linear layers (drawn as columns), by their role."""
    arch = model.peft_edu_applied.arch
    roles = {}  # block-relative layer -> short label; GPT-2's fused c_attn is q, k and v at once
    for rel, label in ((arch.q, "q"), (arch.k, "k"), (arch.v, "v"), (arch.o, "o"),
                       *((rel, "ffn in") for rel in arch.ffn_in), (arch.ffn_out, "ffn out")):
        roles[rel] = f"{roles[rel]},{label}" if rel in roles else label
    views = []
    for rel, label in roles.items():
        bias = getattr(model.get_submodule(arch.block_path(0, rel)), "bias", None)
        if bias is not None:
            views.append(Watched(f"b_{rel}", f"b ({label})", "trainable", "d_out", "1", lambda p=bias: p))
    return views


# ---------------------------------------------------------------- the calculator
def activation_profile(shape: ModelShape, cfg: Config, targets: tuple[str, ...]) -> ActivationProfile:
    """A bias's gradient is the sum of the output gradients: nothing more is kept than the
    frozen model keeps to pass gradients down."""
    return ActivationProfile()
