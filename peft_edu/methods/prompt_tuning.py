"""Prompt tuning — Lester, Al-Rfou & Constant, 2021, arXiv 2104.08691.

The whole model stays frozen. n trainable "virtual token" vectors P are put in front of
the embedded input (§2):

    X~ = [P; X],   P (n, d),  X (B, T, d)  ->  X~ (B, n + T, d)

Trainable parameters: n · d for the whole model (one prompt, not one per layer).

How it is attached: a forward pre-hook on the model you call rewrites its inputs, as
Hugging Face ``peft`` does: ``input_ids`` become ``inputs_embeds`` with P in front, the
attention mask gets n ones in front (the virtual tokens are always visible) and
``token_type_ids`` get n zeros. Consequences, identical to ``peft``:
- BERT's pooler reads position 0, which is now the first virtual token; the classifier
  learns from that position.
- GPT-2's sequence classifier cannot see ``input_ids`` any more and reads the LAST
  position, so pad on the left.
- Position ids count the virtual tokens too: the real tokens move to positions n..n+T-1.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
from torch import nn

from peft_edu.methods import LabDefaults, LessonDefaults, Watched
from peft_edu.models import arch_of
from peft_edu.sizing.profile import ActivationProfile, ModelShape


USES_TARGETS = False  # it adds its own modules; no linear layer is wrapped


@dataclass(frozen=True)
class Config:
    n_tokens: int = 20  # number of virtual tokens n (paper §3: 1-150; 20 is close to its best)
    init: str = "vocab"  # "vocab": copies of random token embeddings (paper §2.2, best); "random": N(0, 1) as peft
    seed: int = 0  # seed for the sampled tokens / random init

    def __post_init__(self):
        if self.n_tokens < 1:
            raise ValueError(f"n_tokens must be >= 1, got {self.n_tokens}")
        if self.init not in ("vocab", "random"):
            raise ValueError(f"init must be 'vocab' or 'random', got {self.init!r}")


# A soft prompt moves the model slowly and is weak on small models, as the paper reports:
# scripts/measure_lab_defaults.py (whole test split every 10 steps, seed 0): 61.3 % after
# 150 steps, 50-57 % up to step 80. Its 20 extra tokens make a step (and a test text) ~2.2 LoRA
# ones, so 40 steps keep the default run under 15 s: a short look at a weak method, not a result.
LAB = LabDefaults(lr=3e-2, steps=40)


def layer_params(d_out: int, d_in: int, cfg: Config) -> int:
    raise ValueError("prompt tuning adds parameters per model, not per layer: use model_params(arch, cfg)")


def model_params(arch, cfg: Config) -> int:
    """n · d: one trainable vector of width d_model per virtual token."""
    return cfg.n_tokens * arch.d_model


class SoftPrompt(nn.Module):
    """The n trainable virtual-token embeddings, prepended to every sequence."""

    def __init__(self, P: torch.Tensor):
        super().__init__()
        self.P = nn.Parameter(P)  # (n, d)

    def forward(self, embeds: torch.Tensor) -> torch.Tensor:
        batch = embeds.shape[0]
        P = self.P.to(embeds.dtype).expand(batch, -1, -1)  # (B, n, d)
        return torch.cat([P, embeds], dim=1)  # (B, n + T, d)


def initial_prompt(embedding: nn.Embedding, cfg: Config) -> torch.Tensor:
    """(n, d) starting prompt: embeddings of n random vocabulary tokens, or N(0, 1) noise."""
    gen = torch.Generator().manual_seed(cfg.seed)
    vocab, d = embedding.weight.shape
    if cfg.init == "random":
        return torch.randn(cfg.n_tokens, d, generator=gen).to(embedding.weight)
    ids = torch.randint(vocab, (cfg.n_tokens,), generator=gen).to(embedding.weight.device)
    return embedding.weight.detach()[ids].clone()


def call_kwargs(model: nn.Module, args: tuple, kwargs: dict) -> dict:
    """The forward call as keywords only, so the hooks can rewrite any input by name."""
    names = list(inspect.signature(model.forward).parameters)
    if len(args) > len(names):
        raise TypeError(f"too many positional arguments for {type(model).__name__}.forward")
    return {**dict(zip(names, args)), **kwargs}


def ones_in_front(mask: torch.Tensor | None, n: int) -> torch.Tensor | None:
    """Attention mask (B, T) -> (B, n + T): the n virtual positions are always attended."""
    if mask is None:
        return None
    return torch.cat([mask.new_ones(mask.shape[0], n), mask], dim=1)


def prepend_prompt(model: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Forward pre-hook: X -> [P; X], and the masks and token types to match."""
    kwargs = call_kwargs(model, args, kwargs)
    n = model.soft_prompt.P.shape[0]
    ids = kwargs.pop("input_ids", None)
    embeds = kwargs.get("inputs_embeds")
    if embeds is None:
        embeds = model.get_input_embeddings()(ids)  # (B, T, d)
    if kwargs.get("position_ids") is not None:
        raise ValueError("prompt tuning shifts every position by n; do not pass position_ids")
    kwargs["inputs_embeds"] = model.soft_prompt(embeds)  # (B, n + T, d)
    kwargs["attention_mask"] = ones_in_front(kwargs.get("attention_mask"), n)
    types = kwargs.get("token_type_ids")
    if types is not None:  # virtual tokens count as segment 0
        kwargs["token_type_ids"] = torch.cat([types.new_zeros(types.shape[0], n), types], dim=1)
    return (), kwargs


def inject(model: nn.Module, cfg: Config, arch=None) -> None:
    """Attach ``model.soft_prompt`` and the input-rewriting hook (model already frozen)."""
    arch = arch or arch_of(model)
    if arch.family not in ("bert", "gpt2", "llama"):
        raise ValueError(f"prompt tuning needs a transformer (BERT, GPT-2 or Llama family), not {arch.family!r}")
    if hasattr(model, "soft_prompt"):
        raise ValueError("prompt tuning is already applied to this model")
    embedding = model.get_input_embeddings()
    model.soft_prompt = SoftPrompt(initial_prompt(embedding, cfg))
    model.soft_prompt.hook = model.register_forward_pre_hook(prepend_prompt, with_kwargs=True)


# ---------------------------------------------------------------- on disk (peft_edu.export)
PEFT_PREFIX = "base_model."  # peft's prompt learning leaves the model unwrapped (no ".model")


def peft_config(cfg: Config, arch, model: nn.Module) -> dict:
    """peft's PromptTuningConfig keys: peft rebuilds its prompt encoder from the model's shape."""
    return {"num_virtual_tokens": cfg.n_tokens, "num_layers": arch.n_layers, "token_dim": arch.d_model,
            "num_attention_heads": arch.n_heads, "num_transformer_submodules": 1, "prompt_tuning_init": "RANDOM"}


def peft_options(config: dict) -> dict:
    return {"n_tokens": config["num_virtual_tokens"]}


def peft_model_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    return {"prompt_embeddings": model.soft_prompt.P}  # (n, d), as it is


def from_peft_model_tensor(model: nn.Module, key: str, value: torch.Tensor) -> dict[str, torch.Tensor] | None:
    return {"soft_prompt.P": value} if key == "prompt_embeddings" else None


# ---------------------------------------------------------------- the method page
PER_MODEL = True  # n · d for the whole model: layer_params has no meaning here
# tiny BERT has 32 positions: [CLS] + 8 words + n virtual tokens must fit
# Compare race: Adam lr 0.03, the best final loss of 0.003/0.01/0.03/0.1 (scripts/measure_race_lrs.py)
LESSON = LessonDefaults("transformer", Config(n_tokens=4), race_lr=0.03)


def watch(model: nn.Module) -> list[Watched]:
    """The frozen token embeddings E beside the trained virtual tokens P."""
    E = model.get_input_embeddings().weight
    return [Watched("E", "E (token embeddings)", "frozen", "vocab", "d", lambda: E),
            Watched("P", "P (virtual tokens)", "trainable", "n", "d", lambda: model.soft_prompt.P)]


# ---------------------------------------------------------------- the calculator
def activation_profile(shape: ModelShape, cfg: Config, targets: tuple[str, ...]) -> ActivationProfile:
    """n more tokens in every sequence: every activation of the frozen model grows."""
    return ActivationProfile(extra_input_tokens=cfg.n_tokens)
