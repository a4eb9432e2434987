"""Prefix tuning — Li & Liang, 2021, arXiv 2101.00190.

The whole model stays frozen. Every attention layer l gets n trainable key vectors and n
trainable value vectors that all real tokens can attend to (§4.2):

    head_l = Attn(x W_q,  [P_k^l; x W_k],  [P_v^l; x W_v]),   P_k^l, P_v^l  (n, d)

Trainable parameters: n · L · 2 · d (no reparametrization MLP — the paper trains through
one (§4.3) and keeps only its output; ``peft`` calls this ``prefix_projection=False``).

How it is attached: Hugging Face models already know how to attend to keys and values
they did not compute themselves — the cache of "past" keys and values used when
generating text. So a forward pre-hook hands the model a cache that holds the prefixes,
exactly as if the model had already read n tokens whose keys and values happen to be
free parameters, and puts n ones in front of the attention mask. This is what ``peft``
does; as there, the real tokens sit at positions n..n+T-1.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import DynamicCache

from peft_edu.methods import LabDefaults, LessonDefaults, Watched
from peft_edu.models import arch_of
from peft_edu.methods.prompt_tuning import call_kwargs, ones_in_front
from peft_edu.sizing.profile import ActivationProfile, ModelShape


USES_TARGETS = False  # it adds its own modules; no linear layer is wrapped


@dataclass(frozen=True)
class Config:
    n_tokens: int = 20  # prefix length n (paper §7.2: about 10 for table-to-text, 200 for summarization)
    init_std: float = 1.0  # P ~ N(0, init_std²); 1.0 = peft's default (nn.Embedding init)
    seed: int = 0  # seed of the random init

    def __post_init__(self):
        if self.n_tokens < 1:
            raise ValueError(f"n_tokens must be >= 1, got {self.n_tokens}")
        if self.init_std <= 0:
            raise ValueError(f"init_std must be > 0, got {self.init_std}")


def layer_params(d_out: int, d_in: int, cfg: Config) -> int:
    raise ValueError(
        "prefix tuning adds parameters per attention layer, not per linear layer: "
        "use model_params(arch, cfg)"
    )


# scripts/measure_lab_defaults.py (whole test split every 10 steps, seed 0): lr 1e-2 84 % at
# step 70, 90.4 % after 150; 2e-2 83 % at 70, 87.5 % at 80, 88.3 % at 90. 80 steps at 2e-2 keep
# the default run under 15 s (150 steps took ~23 s), at ~3 points of final accuracy.
LAB = LabDefaults(lr=2e-2, steps=80)


def model_params(arch, cfg: Config) -> int:
    """n · L · 2 · d: n keys and n values of width d_kv (= d_model without grouped-query attention) per layer."""
    return cfg.n_tokens * arch.n_layers * 2 * arch.d_kv


def reparametrized_params(arch, cfg: Config, hidden: int) -> int:
    """Trainable parameters while training through the paper's reparametrization (§4.3):
    P = MLP(P'), with P' (n, d) and a two-layer MLP d → hidden → L·2·d_kv (tanh between):

        n·d  +  (d·hidden + hidden)  +  (hidden·L·2·d_kv + L·2·d_kv)

    Only its output P (``model_params``: n·L·2·d_kv) is kept after training; the MLP is
    dropped. Hugging Face peft: ``prefix_projection=True``, ``encoder_hidden_size = hidden``."""
    d, out = arch.d_model, arch.n_layers * 2 * arch.d_kv
    return cfg.n_tokens * d + (d * hidden + hidden) + (hidden * out + out)


def random_normal(shape: tuple, std: float, gen: torch.Generator, device) -> torch.Tensor:
    """N(0, std²) drawn on the CPU (same numbers on every device); shapes only on "meta"."""
    if torch.device(device or "cpu").type == "meta":  # counting builds on "meta": no init
        return torch.empty(shape, device="meta")
    return (torch.randn(shape, generator=gen) * std).to(device)


class Prefix(nn.Module):
    """P_k and P_v of every layer, served to the model as a cache of past keys and values."""

    def __init__(self, n_layers: int, n_tokens: int, n_heads: int, head_dim: int, cfg: Config, device=None):
        super().__init__()
        gen = torch.Generator().manual_seed(cfg.seed)
        shape = (n_layers, n_tokens, n_heads * head_dim)
        self.n_heads, self.head_dim = n_heads, head_dim
        self.P_k = nn.Parameter(random_normal(shape, cfg.init_std, gen, device))  # (L, n, d)
        self.P_v = nn.Parameter(random_normal(shape, cfg.init_std, gen, device))  # (L, n, d)

    def heads(self, P: torch.Tensor, batch: int) -> torch.Tensor:
        """(L, n, d) -> (L, B, heads, n, head_dim), the layout attention uses."""
        L, n, _ = P.shape
        P = P.view(L, n, self.n_heads, self.head_dim).transpose(1, 2)  # (L, heads, n, hd)
        return P.unsqueeze(1).expand(L, batch, self.n_heads, n, self.head_dim)

    def cache(self, batch: int, dtype: torch.dtype) -> DynamicCache:
        keys = self.heads(self.P_k.to(dtype), batch)
        values = self.heads(self.P_v.to(dtype), batch)
        return DynamicCache(list(zip(keys, values)))  # layer l attends to [P_k^l; K], [P_v^l; V]


def prepend_prefix(model: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Forward pre-hook: hand the prefixes to every layer as past keys/values; widen the mask."""
    kwargs = call_kwargs(model, args, kwargs)
    if kwargs.get("past_key_values") is not None:
        raise ValueError("prefix tuning supplies past_key_values itself; do not pass them")
    inputs = kwargs.get("input_ids")
    if inputs is None:
        inputs = kwargs["inputs_embeds"]
    dtype = model.get_input_embeddings().weight.dtype
    n = model.prefix.P_k.shape[1]
    kwargs["past_key_values"] = model.prefix.cache(inputs.shape[0], dtype)
    kwargs["attention_mask"] = ones_in_front(kwargs.get("attention_mask"), n)
    if kwargs.get("position_ids") is not None:  # real tokens come after the n prefix positions
        kwargs["position_ids"] = kwargs["position_ids"] + n
    return (), kwargs


def inject(model: nn.Module, cfg: Config, arch=None) -> None:
    """Attach ``model.prefix`` and the hook that feeds it to attention (model already frozen)."""
    arch = arch or arch_of(model)
    if arch.family not in ("bert", "gpt2", "llama"):
        raise ValueError(f"prefix tuning needs a transformer (BERT, GPT-2 or Llama family), not {arch.family!r}")
    if hasattr(model, "prefix"):
        raise ValueError("prefix tuning is already applied to this model")
    n_layers, kv_heads, head_dim = arch.n_layers, arch.n_kv_heads, arch.head_dim  # from models.hf_dims
    device = model.get_input_embeddings().weight.device
    model.prefix = Prefix(n_layers, cfg.n_tokens, kv_heads, head_dim, cfg, device)
    model.prefix.hook = model.register_forward_pre_hook(prepend_prefix, with_kwargs=True)


# ---------------------------------------------------------------- on disk (peft_edu.export)
PEFT_PREFIX = "base_model."  # peft's prompt learning leaves the model unwrapped (no ".model")


def peft_config(cfg: Config, arch, model: nn.Module) -> dict:
    """peft's PrefixTuningConfig keys; keys and values have n_kv_heads under grouped-query attention."""
    heads, head_dim = model.prefix.n_heads, model.prefix.head_dim
    return {"num_virtual_tokens": cfg.n_tokens, "num_layers": arch.n_layers, "token_dim": heads * head_dim,
            "num_attention_heads": heads, "num_transformer_submodules": 1, "prefix_projection": False,
            "encoder_hidden_size": arch.d_model}


def peft_options(config: dict) -> dict:
    if config.get("prefix_projection"):
        raise ValueError("prefix tuning with prefix_projection=True (an MLP) is not supported; use False")
    return {"n_tokens": config["num_virtual_tokens"]}


def peft_model_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """peft's one prompt_embeddings (n, L·2·d): per token, layer by layer, keys then values."""
    P = torch.stack([model.prefix.P_k, model.prefix.P_v], dim=1)  # (L, 2, n, d)
    return {"prompt_embeddings": P.permute(2, 0, 1, 3).reshape(P.shape[2], -1)}


def from_peft_model_tensor(model: nn.Module, key: str, value: torch.Tensor) -> dict[str, torch.Tensor] | None:
    if key != "prompt_embeddings":
        return None
    P = value.reshape(value.shape[0], -1, 2, model.prefix.P_k.shape[-1]).permute(1, 2, 0, 3)  # (L, 2, n, d)
    return {"prefix.P_k": P[:, 0], "prefix.P_v": P[:, 1]}


# ---------------------------------------------------------------- the method page
PER_MODEL = True  # n · L · 2 · d for the whole model: layer_params has no meaning here
# Compare race: Adam lr 0.1, the best final loss of 0.003/0.01/0.03/0.1 (scripts/measure_race_lrs.py)
LESSON = LessonDefaults("transformer", Config(n_tokens=4), race_lr=0.1)


def watch(model: nn.Module) -> list[Watched]:
    """The trained prefix keys P_k and values P_v of every layer."""
    prefix = model.prefix
    return [Watched(f"{kind}{i}", f"P_{kind[1]} layer {i}", "trainable", "n", "d",
                    lambda P=P, i=i: P[i])
            for i in range(prefix.P_k.shape[0]) for kind, P in (("Pk", prefix.P_k), ("Pv", prefix.P_v))]


# ---------------------------------------------------------------- the calculator
def activation_profile(shape: ModelShape, cfg: Config, targets: tuple[str, ...]) -> ActivationProfile:
    """n more keys and values in every layer's attention (the queries stay as many)."""
    return ActivationProfile(extra_kv_tokens=cfg.n_tokens)
