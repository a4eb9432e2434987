"""Training-memory arithmetic: bytes for weights, gradients, optimizer states, activations.

Each function is a closed form with its assumptions in the docstring, so the calculator
page can show the formula next to the number. The activation model (which tensors
autograd keeps for the backward pass) lives in ``peft_edu.sizing.activations``; this module
adds it to the parameter-side terms and compares the total with GPU sizes.

Units: bytes everywhere; figures are shown in decimal gigabytes (1 GB = 10^9 bytes).
"""
from __future__ import annotations

from dataclasses import dataclass

from peft_edu.methods import protocol
from peft_edu.sizing.activations import ActivationSetup, activation_bytes, activation_profile
from peft_edu.sizing.profile import ModelShape

GB = 1e9  # memory figures are shown in decimal gigabytes, like GPU spec sheets
GPU_SIZES_GB = (24, 40, 80)  # common cards: RTX 4090 / A100-40GB / A100-H100-80GB
ADAM_STATE_BYTES = 8  # AdamW keeps two fp32 moments (m, v) per trainable parameter
NF4_BLOCK = 64  # weights sharing one absmax constant (QLoRA §3)
DQ_BLOCK = 256  # absmax constants sharing one second-level constant (double quantization)

__all__ = [
    "GB", "GPU_SIZES_GB", "ActivationSetup", "FullFinetuneBytes", "MemoryBreakdown",
    "ModelShape", "ParamCounts", "Precision", "adapter_file_bytes", "backward_working_bytes",
    "dropout_mask_values", "fits",
    "full_finetune_bytes",
    "gradient_bytes", "hf_shape", "nf4_bits_per_weight", "optimizer_bytes", "precision",
    "training_memory", "weight_bytes",
]


# --- the model ------------------------------------------------------------------------


def hf_shape(cfg, task: str) -> ModelShape:
    """The memory model's view of the model a Hugging Face config describes, for ``task``.

    The dimensions come from ``peft_edu.models`` (``arch_from_config`` and ``hf_dims``), the
    one place a config is read, so the counts and the memory model see the same model."""
    from peft_edu.models import arch_from_config, hf_dims

    return ModelShape.from_arch(arch_from_config(cfg, task), hf_dims(cfg)["vocab"])


@dataclass(frozen=True)
class FullFinetuneBytes:
    """Bytes per part for full fine-tuning in mixed precision with AdamW."""

    weights: float  # 16-bit working copy of every weight
    gradients: float  # 16-bit gradient of every weight
    master: float  # 32-bit master copy kept by the optimizer
    adam_states: float  # 32-bit first and second moments

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.master + self.adam_states


def full_finetune_bytes(n_params: int) -> FullFinetuneBytes:
    """Mixed-precision AdamW: 2 + 2 + 4 + 4 + 4 = 16 bytes per parameter, before activations.

    This is the standard accounting of the ZeRO paper (arXiv 1910.02054, §3.1).
    """
    return FullFinetuneBytes(
        weights=2.0 * n_params,
        gradients=2.0 * n_params,
        master=4.0 * n_params,
        adam_states=8.0 * n_params,
    )


# --- precision -----------------------------------------------------------------------


def nf4_bits_per_weight(double_quant: bool = False) -> float:
    """Bits per weight of NF4 storage, constants included (QLoRA, arXiv 2305.14314, §3).

    Each weight is a 4-bit code; every block of 64 weights shares one fp32 absmax:
        4 + 32/64 = 4.5 bits.
    Double quantization stores those absmax values in 8 bits, with one fp32 constant per
    256 of them:
        4 + 8/64 + 32/(64·256) ≈ 4.127 bits.
    """
    if double_quant:
        return 4 + 8 / NF4_BLOCK + 32 / (NF4_BLOCK * DQ_BLOCK)
    return 4 + 32 / NF4_BLOCK


@dataclass(frozen=True)
class Precision:
    """How many bytes each kind of number takes during training."""

    label: str  # shown on the page, e.g. "16-bit (bf16 mixed precision)"
    base_linear_bits: float  # bits per frozen weight of the blocks' linear layers (32, 16, NF4 4.5/4.127)
    base_other_bytes: float  # bytes per other frozen weight (embeddings, norms, head): never quantized
    trainable_bytes: float  # bytes per trainable weight (its working copy)
    grad_bytes: float  # bytes per gradient value (gradients exist for trainable weights only)
    master_bytes: float  # fp32 master copy per trainable weight in mixed precision, else 0
    act_bytes: float  # bytes per stored activation value

    @property
    def quantized(self) -> bool:
        return self.base_linear_bits < 8


def precision(bits: int, double_quant: bool = False) -> Precision:
    """The three regimes of the calculator.

    * 32: everything fp32 (4-byte weights, gradients and activations).
    * 16: bf16 mixed precision as in ZeRO §3.1: 2-byte weights, gradients, activations and
      an fp32 master copy of trainable weights.
    * 4: QLoRA: the blocks' frozen linear weights in NF4 (``nf4_bits_per_weight``); the rest
      as in 16-bit mixed precision (bf16 compute, fp32 master copy of the adapter).
    AdamW's two moments are fp32 in all three (``ADAM_STATE_BYTES``).
    """
    if bits == 32:
        return Precision("32-bit (fp32)", 32, 4, 4, 4, 0, 4)
    if bits == 16:
        return Precision("16-bit (bf16 mixed precision)", 16, 2, 2, 2, 4, 2)
    if bits == 4:
        label = "4-bit NF4" + (" + double quantization" if double_quant else "")
        return Precision(label, nf4_bits_per_weight(double_quant), 2, 2, 2, 4, 2)
    raise ValueError(f"weight precision must be 32, 16 or 4 bits, got {bits!r}")


# --- parameter-side terms --------------------------------------------------------------


@dataclass(frozen=True)
class ParamCounts:
    """The parameter numbers the memory model needs (from ``peft_edu.count``)."""

    total: int  # every parameter of the model during training, added modules included
    trainable: int  # parameters that receive gradients
    base_linear_frozen: int  # frozen weights of the blocks' linear layers (what NF4 quantizes)

    def __post_init__(self) -> None:
        if min(self.total, self.trainable, self.base_linear_frozen) < 0:
            raise ValueError("parameter counts must be >= 0")
        if self.trainable + self.base_linear_frozen > self.total:
            raise ValueError("trainable + frozen linear weights cannot exceed the total")


def weight_bytes(counts: ParamCounts, prec: Precision) -> float:
    """Bytes of all weights held in memory.

        trainable · b_train + W_lin · bits/8 + (total − trainable − W_lin) · b_other

    W_lin = frozen weights of the blocks' linear layers (NF4 in 4-bit mode); embeddings,
    norms and the head are never quantized (bitsandbytes leaves them in 16 bits).
    """
    other = counts.total - counts.trainable - counts.base_linear_frozen
    return (
        counts.trainable * prec.trainable_bytes
        + counts.base_linear_frozen * prec.base_linear_bits / 8
        + other * prec.base_other_bytes
    )


def gradient_bytes(trainable: int, prec: Precision) -> float:
    """Gradients exist only for trainable parameters: trainable · b_grad."""
    return trainable * prec.grad_bytes


def optimizer_bytes(trainable: int, prec: Precision, state_values: int | None = None) -> float:
    """AdamW: two fp32 moments per trainable parameter, plus the fp32 master copy in mixed
    precision: trainable · (8 + b_master). Frozen weights have no optimizer state.
    ``state_values``: the fp32 values the method's optimizer keeps instead of 2 · trainable
    (the protocol's ``optimizer_state_values``: GaLore's projected moments)."""
    moments = ADAM_STATE_BYTES * trainable if state_values is None else 4 * state_values
    return moments + trainable * prec.master_bytes


def adapter_file_bytes(n_values: int, bytes_per_value: float = 4) -> float:
    """Size of the saved trainable weights (safetensors): n · bytes per value.

    The JSON header of the file (a few kB) is not counted. Full fine-tuning saves the whole
    model; PEFT methods save only what trained.
    """
    if n_values < 0 or bytes_per_value <= 0:
        raise ValueError("n_values must be >= 0 and bytes_per_value > 0")
    return n_values * bytes_per_value


# --- the whole picture -----------------------------------------------------------------


@dataclass(frozen=True)
class MemoryBreakdown:
    """Peak training memory by term, in bytes (the stacked bar on the page)."""

    weights: float  # every weight, frozen ones in the base precision
    gradients: float  # trainable parameters only
    optimizer: float  # AdamW moments (+ fp32 master copy in mixed precision)
    activations: float  # what autograd keeps for backward, for one batch

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.activations

    def parts(self) -> dict[str, float]:
        return {
            "Weights": self.weights,
            "Gradients": self.gradients,
            "Optimizer states": self.optimizer,
            "Activations": self.activations,
        }


def training_memory(
    shape: ModelShape,
    counts: ParamCounts,
    method: str,
    prec: Precision,
    setup: ActivationSetup,
    mask_bytes: float = 1,
    targets: tuple[str, ...] = ("q", "v"),
    **config,
) -> MemoryBreakdown:
    """weights + gradients + optimizer states + activations, as the sum of the terms above.

    ``targets`` (generic names q, k, v, o, mlp) and ``config`` (the method's Config fields,
    e.g. ``r=8``) decide which activations are stored
    (``peft_edu.sizing.activations.activation_profile``).
    ``mask_bytes``: bytes per kept dropout-mask value: 1 on CUDA (a bool mask, as Korthikanti
    et al. assume); PyTorch's CPU dropout keeps its mask in the activation dtype (4 in fp32).
    """
    spec = protocol(method)
    if spec.trains_base and prec.quantized:  # 4-bit codes have no gradient: a quantized base stays frozen
        raise ValueError(f"{spec.key} trains the base weights, which cannot be stored in 4 bits; "
                         "choose 16 or 32 bits")
    profile = activation_profile(method, shape, targets, **config)
    masks = dropout_mask_values(shape, profile, setup)
    kept = activation_bytes(shape, profile, setup, prec.act_bytes) + (mask_bytes - 1) * masks
    return MemoryBreakdown(
        weights=weight_bytes(counts, prec),
        gradients=gradient_bytes(counts.trainable, prec),
        optimizer=optimizer_bytes(counts.trainable, prec, spec.optimizer_state_values(
            shape, spec.config(**config), targets, counts.trainable)),
        activations=kept + backward_working_bytes(shape, profile, setup, prec.act_bytes),
    )


def backward_working_bytes(shape: ModelShape, profile, setup: ActivationSetup, p: float) -> float:
    """The peak's share of backward's temporary tensors, on top of what is kept.

    While one layer's backward runs, the gradients of its largest activations exist beside
    everything still kept, and the backward passes through the parts one after the other:

        attention (standard kernel)  2·p·a·b·s·s_kv   gradients of the probabilities and scores
                  (fused kernel)     0                tiles only
        MLP                          k·p·b·s·f        k = 2 (GELU: activation and its input),
                                                      3 with SwiGLU (gate, up, product)
        LM head                      8·b·s·V          at the start: log-softmax's backward makes the fp32
                                                      gradient w.r.t. the logits while the one w.r.t.
                                                      the log-probabilities still exists (both b·s·V)
        + residual stream            2·p·b·s·h        the gradient flowing down and its copy

    The largest of the first three counts (they are never alive together), plus the residual.
    """
    s = setup.seq + profile.extra_input_tokens
    tokens = setup.batch * s
    attention = 0.0 if setup.fused_attention else 2 * p * shape.n_heads * setup.batch * s * (
        s + profile.extra_kv_tokens)
    mlp = (3 if shape.gated_mlp else 2) * p * tokens * shape.d_ff
    head = 2 * 4 * tokens * shape.vocab if shape.lm_head else 0.0  # two fp32 (b·s, V) gradients
    return max(attention, mlp, head) + 2 * p * tokens * shape.d_model


def dropout_mask_values(shape: ModelShape, profile, setup: ActivationSetup) -> float:
    """Dropout-mask values that ``activation_bytes`` counts at 1 byte each: per layer one
    mask after attention and one after the FFN (2·b·s·h), plus one on the attention
    probabilities (a·b·s·s_kv) with a standard (unfused) kernel; only one layer's with
    gradient checkpointing (the others are recomputed in backward)."""
    if not setup.dropout:
        return 0.0
    s = setup.seq + profile.extra_input_tokens
    per_layer = 2 * setup.batch * s * shape.d_model
    if not setup.fused_attention:
        per_layer += shape.n_heads * setup.batch * s * (s + profile.extra_kv_tokens)
    return per_layer * (1 if setup.checkpointing else shape.n_layers)


def fits(total_bytes: float, gpu_gb: float) -> bool:
    """Does an estimate fit on a card sold as ``gpu_gb`` GB? total ≤ gpu_gb · 10^9.

    The cards actually hold gpu_gb GiB (about 7% more than gpu_gb · 10^9 bytes); we keep
    that margin for what the model leaves out: the CUDA context, library workspaces and
    allocator fragmentation.
    """
    if gpu_gb <= 0:
        raise ValueError(f"GPU size must be > 0 GB, got {gpu_gb}")
    return total_bytes <= gpu_gb * GB
