"""Closed forms of data, tensor and pipeline parallelism (REFERENCE.md "Distributed training").

Memory per GPU of the model states (weights, gradients, optimizer states) follows the ZeRO
paper (Rajbhandari et al., arXiv 1910.02054, §5, Fig. 1): with Ψ parameters of which Φ train,
2-byte weights and gradients and k bytes of optimizer state per trainable parameter,

    stage 0 (plain DDP)   W + 2Φ + kΦ               W = bytes of every weight (2Ψ)
    ZeRO-1                W + 2Φ + kΦ/N            optimizer states sharded
    ZeRO-2                W + (2 + k)Φ/N           ... and gradients
    ZeRO-3 / FSDP         W/N + (2 + k)Φ/N         ... and the weights themselves

Full fine-tuning is Φ = Ψ, W = 2Ψ, which gives (4 + k)Ψ, 4Ψ + kΨ/N, 2Ψ + (2 + k)Ψ/N and
(4 + k)Ψ/N. Under a PEFT method Φ ≪ Ψ, so only sharding the frozen weights (stage 3) helps.

Tensor parallelism (Megatron-LM, Shoeybi et al., arXiv 1909.08053) splits each block's
matrices over t ranks; pipeline parallelism (GPipe, Huang et al., arXiv 1811.06965; 1F1B of
PipeDream/Megatron, Narayanan et al., arXiv 2104.04473) splits the layers over p stages.
Activations are not part of these forms (``plan`` adds them).
"""
from __future__ import annotations

from dataclasses import dataclass

GIB = 2 ** 30  # REFERENCE.md's table is in GiB
STAGES = (0, 1, 2, 3)  # 0 = plain DDP; 3 = ZeRO-3, which is what FSDP's full sharding does
STAGE_NAMES = {0: "DDP (no sharding)", 1: "ZeRO-1 (optimizer states)", 2: "ZeRO-2 (+ gradients)",
               3: "ZeRO-3 / FSDP (+ weights)"}


@dataclass(frozen=True)
class Convention:
    """Bytes per number of one training precision convention."""

    key: str  # URL value
    label: str  # shown on the page
    weight: float  # bytes per weight held for compute
    grad: float  # bytes per gradient value (what DDP all-reduces)
    k: float  # optimizer-state bytes per trainable parameter (ZeRO's K)


# Mixed precision as ZeRO §3.1 counts it: bf16 weights and grads, an fp32 master copy and two
# fp32 Adam moments (4 + 4 + 4 = 12 bytes).
MIXED = Convention("mixed", "Mixed precision (bf16 + fp32 master, k = 12)", 2, 2, 12)
# Pure bf16 as torchtune and peft's method-comparison runs train: weights, grads and both Adam
# moments in bf16, no master copy (k = 2 + 2 = 4).
PURE_BF16 = Convention("bf16", "Pure bf16 (no master copy, k = 4)", 2, 2, 4)
# What the CPU runs of this page do: everything fp32, Adam's two fp32 moments (k = 8).
FP32 = Convention("fp32", "fp32 (the CPU runs here, k = 8)", 4, 4, 8)
CONVENTIONS = {c.key: c for c in (MIXED, PURE_BF16)}


@dataclass(frozen=True)
class ModelStates:
    """Bytes one GPU holds for the model states (no activations)."""

    weights: float
    gradients: float
    optimizer: float

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer

    def parts(self) -> dict[str, float]:
        return {"Weights": self.weights, "Gradients": self.gradients, "Optimizer states": self.optimizer}


def check_stage(stage: int) -> None:
    if stage not in STAGES:
        raise ValueError(f"ZeRO stage must be 0, 1, 2 or 3, got {stage!r}")


def model_state_bytes(frozen_bytes: float, trainable: float, n: int, stage: int,
                      conv: Convention = MIXED) -> ModelStates:
    """Model states per GPU for ``n`` data-parallel ranks at ZeRO ``stage``.

    ``frozen_bytes``: bytes of the weights that do not train (0 for full fine-tuning; 2 bytes
    each in bf16, fewer for an NF4 base); ``trainable``: Φ. Each stage shards one more kind
    of state over the n ranks (arXiv 1910.02054, §5.1-5.3)."""
    check_stage(stage)
    if n < 1:
        raise ValueError(f"GPU count must be >= 1, got {n}")
    weights = frozen_bytes + conv.weight * trainable
    return ModelStates(
        weights=weights / n if stage >= 3 else weights,
        gradients=conv.grad * trainable / (n if stage >= 2 else 1),
        optimizer=conv.k * trainable / (n if stage >= 1 else 1),
    )


def full_per_gpu(psi: float, n: int, stage: int, conv: Convention = MIXED) -> float:
    """Full fine-tuning (Φ = Ψ): (4+k)Ψ, 4Ψ + kΨ/N, 2Ψ + (2+k)Ψ/N, (4+k)Ψ/N bytes."""
    return model_state_bytes(0.0, psi, n, stage, conv).total


def peft_per_gpu(psi: float, phi: float, n: int, stage: int, conv: Convention = MIXED) -> float:
    """A PEFT method: the Ψ frozen weights in 16 bits plus Φ trainable ones (own copy included)."""
    return model_state_bytes(conv.weight * psi, phi, n, stage, conv).total


# ---------------------------------------------------------------- communication
def ring_allreduce_bytes(k_values: float, n: int, bytes_per_value: float) -> float:
    """Bytes each rank sends (and receives) in a ring all-reduce of K values over N ranks:
    2(N−1)/N · K · bytes — N−1 steps of reduce-scatter, then N−1 of all-gather, each moving
    one chunk of K/N values (Patarasuk & Yuan 2009; what NCCL and gloo's ring do)."""
    if n < 1:
        raise ValueError(f"rank count must be >= 1, got {n}")
    return 2 * (n - 1) / n * k_values * bytes_per_value


def ring_chunks(k_values: int, n: int) -> list[int]:
    """Sizes of the N chunks a ring all-reduce cuts K values into (the first K mod N chunks one
    larger, as ``torch.tensor_split`` does)."""
    base, extra = divmod(int(k_values), n)
    return [base + (1 if i < extra else 0) for i in range(n)]


def step_comm_bytes(psi: float, phi: float, n: int, stage: int, conv: Convention = MIXED) -> float:
    """Data-parallel bytes each rank sends per optimizer step.

    Stages 0-2: one all-reduce of the Φ gradients (ZeRO-2 does it as a reduce-scatter plus an
    all-gather of the updated shard: the same volume). Stage 3 also all-gathers every weight
    twice (forward and backward, arXiv 1910.02054 §7.2.2): frozen weights too, so PEFT keeps
    most of stage 3's traffic."""
    check_stage(stage)
    grads = ring_allreduce_bytes(phi, n, conv.grad)
    if stage < 3:
        return grads
    gathers = 2 * (n - 1) / n * (psi * conv.weight)  # two all-gathers of the weights
    return grads / 2 + gathers  # gradients: a reduce-scatter only (half an all-reduce)


def tensor_parallel_bytes(layers: int, tokens: int, hidden: int, t: int, act_bytes: float = 2) -> float:
    """Bytes each rank sends for tensor parallelism in one forward + backward pass: per block
    2 all-reduces of the (tokens × hidden) activations forward and 2 backward (Megatron §3)."""
    if t <= 1:
        return 0.0
    return layers * 4 * ring_allreduce_bytes(tokens * hidden, t, act_bytes)


def pipeline_bytes(micro_batches: int, micro_tokens: int, hidden: int, p: int, act_bytes: float = 2) -> float:
    """Bytes a middle stage sends per step: each micro-batch's activations forward and their
    gradient backward over one stage boundary."""
    if p <= 1:
        return 0.0
    return 2 * micro_batches * micro_tokens * hidden * act_bytes


def bubble_fraction(p: int, m: int, v: int = 1) -> float:
    """Idle time of a pipeline of p stages and m micro-batches, relative to its compute:
    (p−1)/m with 1F1B (and GPipe), (p−1)/(v·m) interleaved over v chunks per stage
    (Narayanan et al., arXiv 2104.04473, §2.2)."""
    if p < 1 or m < 1 or v < 1:
        raise ValueError("stages, micro-batches and chunks must be >= 1")
    return (p - 1) / (v * m)
