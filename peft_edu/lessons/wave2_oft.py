"""OFT's lesson (arXiv 2306.07280): R stays orthogonal, and the neurons keep their angles.

``orthogonality_run()`` trains OFT and LoRA on the same toy layer (``lessons.lowrank``'s
real runs, every step recorded) and measures, at every step:

- OFT's ‖RᵀR − I‖_F: the Cayley transform makes R orthogonal at every step, so this stays
  at float32 rounding (about 1e-6), however far R has turned;
- for both methods, the largest change of a cosine between two neurons (rows of W),
  max over pairs j < k of |cos(w'_j, w'_k) − cos(w_j, w_k)|, and of a neuron's length: OFT's
  stay at rounding, LoRA's additive update moves them;
- the pairwise cosines before and after training, one point per pair of neurons.

Every result is plain data so Streamlit can cache it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peft_edu.lessons.lowrank import matrix_run
from peft_edu.methods import protocol


@dataclass(frozen=True)
class OrthogonalityRun:
    """OFT and LoRA on the toy layer: what each keeps of the neurons' geometry, per step."""

    block_size: int  # OFT's b
    n_blocks: int  # OFT's blocks on d_in
    r: int  # LoRA's rank (alpha = r)
    oft_params: int  # trainable numbers of each adapter on the toy layer
    lora_params: int
    lr: float
    steps: list[int]  # 0..n
    orth_error: list[float]  # OFT's ‖RᵀR − I‖_F per step
    rotation_size: list[float]  # OFT's ‖R − I‖_F per step: how far R has turned
    oft_cos_change: list[float]  # max |Δ cos| between two neurons, per step
    lora_cos_change: list[float]
    oft_norm_change: list[float]  # max relative change of a neuron's length, per step
    lora_norm_change: list[float]
    cos_before: np.ndarray  # (pairs,) cosines of W0's neuron pairs j < k
    oft_cos_after: np.ndarray  # (pairs,) after the last step
    lora_cos_after: np.ndarray
    oft_loss: list[float]
    lora_loss: list[float]


def pair_cosines(W: np.ndarray) -> np.ndarray:
    """Cosines between every pair of rows j < k of W (d_out, d_in), in float64."""
    W = np.asarray(W, dtype=np.float64)
    unit = W / np.linalg.norm(W, axis=1, keepdims=True)
    j, k = np.triu_indices(W.shape[0], 1)
    return (unit @ unit.T)[j, k]


def row_norms(W: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.asarray(W, dtype=np.float64), axis=1)


def orthogonality_error(R: np.ndarray) -> float:
    """‖RᵀR − I‖_F in float64."""
    R = np.asarray(R, dtype=np.float64)
    return float(np.linalg.norm(R.T @ R - np.eye(R.shape[0])))


def orthogonality_run(block_size: int = 8, r: int = 4, lr: float = 0.02, steps: int = 80) -> OrthogonalityRun:
    """Both methods from the same toy base and learning rate, every step snapshotted."""
    oft = matrix_run("oft", block_size, steps=steps, lr=lr, n_frames=steps + 1)
    lora = matrix_run("lora", r, steps=steps, lr=lr, n_frames=steps + 1)
    W0 = oft.first("W0")
    cos0, norm0 = pair_cosines(W0), row_norms(W0)
    oft_W = [frame["W"] for frame in oft.frames]
    lora_W = [frame["W0"] + frame["dW"] for frame in lora.frames]

    def cos_change(Ws):
        return [float(np.abs(pair_cosines(W) - cos0).max()) for W in Ws]

    def norm_change(Ws):
        return [float((np.abs(row_norms(W) - norm0) / norm0).max()) for W in Ws]

    R = [frame["R"] for frame in oft.frames]
    d_out, d_in = W0.shape
    oft_cfg = protocol("oft").config(block_size=block_size)
    return OrthogonalityRun(
        block_size=block_size, n_blocks=d_in // block_size, r=r,
        oft_params=protocol("oft").layer_params(d_out, d_in, oft_cfg),
        lora_params=protocol("lora").layer_params(d_out, d_in, protocol("lora").config(r=r)),
        lr=lr, steps=list(oft.steps),
        orth_error=[orthogonality_error(m) for m in R],
        rotation_size=[float(np.linalg.norm(np.asarray(m, np.float64) - np.eye(d_in))) for m in R],
        oft_cos_change=cos_change(oft_W), lora_cos_change=cos_change(lora_W),
        oft_norm_change=norm_change(oft_W), lora_norm_change=norm_change(lora_W),
        cos_before=cos0, oft_cos_after=pair_cosines(oft_W[-1]), lora_cos_after=pair_cosines(lora_W[-1]),
        oft_loss=list(oft.loss), lora_loss=list(lora.loss))
