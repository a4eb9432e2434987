"""LoKr's lesson (arXiv 2309.14859): its size against LoRA's at the same ΔW shape, and the
rank a Kronecker product reaches.

- ``count_curves(r)``: trainable parameters of one square d × d layer for a range of widths
  d, LoKr (peft's factor sizes; also with ``decompose_both``) against LoRA at the same r and
  full fine-tuning, counted from real layers built on the "meta" device (shapes only, no
  memory) and checked against the closed forms; and, at 4,096 × 4,096, LoKr's count for
  every factor f (``decompose_factor``) at a few ranks.
- ``layer_table(ranks)``: the same for the layer shapes of real models (BERT-base,
  Llama-2-7B), with the highest rank each update can reach.
- ``rank_run(r)``: real runs of LoKr and LoRA at the same r on the toy layer; the trained
  C, D and ΔW = (α/r)·C ⊗ D, their numerical ranks and singular values: ΔW's are exactly
  the products σ_i(C)·σ_j(D) (times α/r), so rank ΔW = rank C · rank D.

Every result is plain data so Streamlit can cache it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

import peft_edu
from peft_edu.lessons.lowrank import matrix_run
from peft_edu.methods import lokr

WIDTHS = (64, 128, 256, 384, 512, 768, 1024, 2048, 4096, 8192)  # square layers d × d
FACTOR_WIDTH = 4096  # the layer of the factor sweep
FACTORS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)  # decompose_factor f: C is f × f, D (4096/f)²
FACTOR_RANKS = (4, 8, 16)
MODEL_LAYERS = (  # (model, layer, d_out, d_in) from the models' configs
    ("BERT-base", "query / value", 768, 768),
    ("BERT-base", "FFN up", 3072, 768),
    ("Llama-2-7B", "q_proj / v_proj", 4096, 4096),
    ("Llama-2-7B", "up_proj", 11008, 4096),
    ("Llama-2-7B", "down_proj", 4096, 11008),
)


def counted(d_out: int, d_in: int, cfg: lokr.Config) -> int:
    """Trainable numbers of a real LoKr layer over a (d_out, d_in) linear layer on "meta"."""
    layer = lokr.LoKrLinear(nn.Linear(d_in, d_out, device="meta").requires_grad_(False), cfg)
    n = sum(p.numel() for p in layer.parameters() if p.requires_grad)
    if n != lokr.layer_params(d_out, d_in, cfg):
        raise AssertionError(f"LoKr layer {d_out}×{d_in} has {n} parameters, the closed form says "
                             f"{lokr.layer_params(d_out, d_in, cfg)}")
    return n


@dataclass(frozen=True)
class CountCurves:
    """Counts of one d × d layer at rank r (lists follow ``widths``) and the factor sweep."""

    r: int
    widths: tuple[int, ...]
    lora: list[int]  # r · 2d
    lokr: list[int]  # peft's defaults: C full, D low-rank when r < max(u2, v2) / 2
    lokr_both: list[int]  # decompose_both: C low-rank too under the same rule
    full: list[int]  # d²
    lokr_rank: list[int]  # highest rank of LoKr's ΔW: rank C · rank D
    factors: tuple[int, ...]  # the sweep's f
    factor_ranks: tuple[int, ...]
    factor_counts: dict[int, list[int]]  # rank -> LoKr count at 4096 × 4096 for each f
    factor_lora: dict[int, int]  # rank -> LoRA's count at 4096 × 4096

    def ratio(self, d: int) -> float:
        """LoRA's count over LoKr's at width d."""
        i = self.widths.index(d)
        return self.lora[i] / self.lokr[i]


def count_curves(r: int = 8, alpha: float = 8.0) -> CountCurves:
    cfg, both = lokr.Config(r=r, alpha=alpha), lokr.Config(r=r, alpha=alpha, decompose_both=True)
    sweep = {k: [counted(FACTOR_WIDTH, FACTOR_WIDTH, lokr.Config(r=k, decompose_factor=f)) for f in FACTORS]
             for k in FACTOR_RANKS}
    return CountCurves(
        r=r, widths=WIDTHS,
        lora=[peft_edu.layer_params("lora", d, d, r=r) for d in WIDTHS],
        lokr=[counted(d, d, cfg) for d in WIDTHS],
        lokr_both=[counted(d, d, both) for d in WIDTHS],
        full=[d * d for d in WIDTHS],
        lokr_rank=[lokr.max_rank(d, d, cfg) for d in WIDTHS],
        factors=FACTORS, factor_ranks=FACTOR_RANKS, factor_counts=sweep,
        factor_lora={k: peft_edu.layer_params("lora", FACTOR_WIDTH, FACTOR_WIDTH, r=k) for k in FACTOR_RANKS})


def layer_table(ranks: tuple[int, ...] = (4, 8, 16, 64)) -> list[dict]:
    """One row per real layer and rank: factor sizes, LoKr's and LoRA's counts and ranks."""
    rows = []
    for model, name, d_out, d_in in MODEL_LAYERS:
        for r in ranks:
            cfg = lokr.Config(r=r)
            s = lokr.shapes(d_out, d_in, cfg)
            d_form = f"{s.u2}×{r} · {r}×{s.v2}" if s.low_rank_d else f"{s.u2}×{s.v2} (full)"
            lora_n, lokr_n = peft_edu.layer_params("lora", d_out, d_in, r=r), counted(d_out, d_in, cfg)
            rows.append({"model": model, "layer": f"{name} ({d_out}×{d_in})", "r": r,
                         "C": f"{s.u1}×{s.v1}", "D": d_form, "LoKr": lokr_n, "LoRA": lora_n,
                         "LoRA / LoKr": round(lora_n / lokr_n, 1),
                         "LoKr max rank": lokr.max_rank(d_out, d_in, cfg), "LoRA max rank": min(r, d_out, d_in)})
    return rows


# ---------------------------------------------------------------- the rank of C ⊗ D
def numerical_rank(a: np.ndarray) -> int:
    """Singular values above 1e-5 of the largest (float32 training leaves ~1e-7 noise)."""
    s = np.linalg.svd(a.astype(np.float64), compute_uv=False)
    return int((s > 1e-5 * s[0]).sum()) if s.size and s[0] > 0 else 0


@dataclass(frozen=True)
class RankRun:
    """LoKr and LoRA at the same r on the toy layer, after training."""

    r: int
    steps: int
    C: np.ndarray  # (u1, v1) trained
    D: np.ndarray  # (u2, v2) = D_a D_b when low-rank
    dW: np.ndarray  # (d_out, d_in) = (α/r)·C ⊗ D
    scaling: float  # α / r
    rank_C: int
    rank_D: int
    rank_dW: int
    rank_lora: int  # numerical rank of LoRA's trained B·A
    sv_dW: np.ndarray  # singular values of ΔW, falling
    sv_products: np.ndarray  # (α/r)·σ_i(C)·σ_j(D), all pairs, falling
    sv_lora: np.ndarray  # singular values of LoRA's ΔW
    lokr_params: int
    lora_params: int
    lokr_loss: list[float]
    lora_loss: list[float]
    kron_error: float  # max |ΔW − (α/r)·numpy.kron(C, D)|


def rank_run(r: int = 1) -> RankRun:
    """Train LoKr and LoRA (same r, α = r, the toy layer's defaults) and compare their ΔW."""
    runs = {m: matrix_run(m, r, n_frames=2) for m in ("lokr", "lora")}
    mine, theirs = runs["lokr"], runs["lora"]
    C, D, dW = (mine.last(k).astype(np.float64) for k in ("C", "D", "dW"))
    scaling = 1.0  # lowrank.build sets α = r: α / r = 1
    sv_c, sv_d = np.linalg.svd(C, compute_uv=False), np.linalg.svd(D, compute_uv=False)
    products = np.sort(scaling * np.outer(sv_c, sv_d).ravel())[::-1]
    lora_dW = theirs.last("dW").astype(np.float64)
    d_out, d_in = dW.shape
    return RankRun(
        r=r, steps=len(mine.loss) - 1, C=C, D=D, dW=dW, scaling=scaling,
        rank_C=numerical_rank(C), rank_D=numerical_rank(D), rank_dW=numerical_rank(dW),
        rank_lora=numerical_rank(lora_dW),
        sv_dW=np.linalg.svd(dW, compute_uv=False), sv_products=products,
        sv_lora=np.linalg.svd(lora_dW, compute_uv=False),
        lokr_params=peft_edu.layer_params("lokr", d_out, d_in, r=r, alpha=float(r)),
        lora_params=peft_edu.layer_params("lora", d_out, d_in, r=r),
        lokr_loss=mine.loss, lora_loss=theirs.loss,
        kron_error=float(np.abs(dW - scaling * np.kron(C, D)).max()))
