"""Published measurements the estimates are held against, and the single-GPU estimate for them.

Hugging Face peft's method comparison (``method_comparison/MetaMathQA`` in the peft
repository) trains Llama-3.2-3B in pure bf16 with batch 4, sequences up to 768 tokens, no
gradient checkpointing, and reports the peak memory the caching allocator reserved: LoRA
r = 32 (q, v) 20.8 GiB, full fine-tuning 36.2 GiB. ``estimate`` gives the same setup from
the counts (``peft_edu.count``) and the calculator's memory model with the pure-bf16
convention, so the page can show both side by side.
"""
from __future__ import annotations

from dataclasses import dataclass

from peft_edu.counting import count
from peft_edu.distributed.formulas import FP32, GIB, PURE_BF16, Convention, ModelStates, model_state_bytes
from peft_edu.methods import protocol
from peft_edu.models import arch_from_config, hf_config
from peft_edu.sizing.estimate import target_names
from peft_edu.sizing.memory import ActivationSetup, ParamCounts, hf_shape, precision, training_memory

# meta-llama/Llama-3.2-3B config.json (the fields the counts need); its LM head is tied to the embeddings
LLAMA_32_3B = {"model_type": "llama", "hidden_size": 3072, "num_hidden_layers": 28, "num_attention_heads": 24,
               "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 8192, "vocab_size": 128256,
               "tie_word_embeddings": True}


@dataclass(frozen=True)
class Measured:
    """One published peak-memory measurement."""

    label: str
    method: str  # registry key
    knob: tuple[tuple[str, int], ...]  # the method's size knob, e.g. (("r", 32),)
    gib: float  # measured peak, GiB
    batch: int = 4
    seq: int = 768
    targets: tuple[str, ...] = ("q", "v")  # peft's default LoRA targets for Llama
    # peft's get_peft_model keeps an adapter's own weights in fp32 on a bf16 base
    # (autocast_adapter_dtype=True, its default), as the method comparison ran
    adapter_fp32: bool = True
    source: str = "Hugging Face peft, method_comparison/MetaMathQA, Llama-3.2-3B, bf16"


PEFT_LLAMA_32_3B = (
    Measured("LoRA r = 32", "lora", (("r", 32),), 20.8),
    Measured("Full fine-tuning", "full", (), 36.2),
)


@dataclass(frozen=True)
class SingleGpu:
    """The estimate for one GPU: model states under a convention, activations in bf16."""

    states: ModelStates
    activations: float

    @property
    def total(self) -> float:
        return self.states.total + self.activations


def estimate(m: Measured, fields: dict = LLAMA_32_3B, conv: Convention = PURE_BF16) -> SingleGpu:
    """``m``'s setup on one GPU: weights, grads and optimizer states by ``conv``; activations as the
    calculator models them (bf16, fused attention, no dropout, fp32 logits for the loss)."""
    cfg = hf_config(fields)
    shape, arch = hf_shape(cfg, "causal_lm"), arch_from_config(cfg, "causal_lm")
    knob, spec = dict(m.knob), protocol(m.method)
    targets = target_names(arch, m.targets) if spec.uses_targets else None
    c = count(fields, m.method, task="causal_lm", targets=targets, **knob)
    phi, psi = c["trainable"], c["total"]
    frozen_linear = 0 if spec.trains_base else shape.n_layers * shape.linear_params_per_layer()
    mem = training_memory(shape, ParamCounts(psi, phi, frozen_linear), m.method, precision(16),
                          ActivationSetup(m.batch, m.seq), targets=m.targets, **knob)
    states = model_state_bytes(conv.weight * (psi - phi), phi, 1, 0, conv)
    activations = mem.activations
    if m.adapter_fp32 and spec.uses_targets and not spec.trains_base:
        states = model_state_bytes(conv.weight * (psi - phi), phi, 1, 0, FP32)  # fp32 weight, grad, 2 moments
        activations += fp32_adapter_inputs(arch, shape, targets, m.batch * m.seq, conv.weight)
    return SingleGpu(states, activations)


def fp32_adapter_inputs(arch, shape, targets: tuple[str, ...], tokens: int, p: float) -> float:
    """Extra bytes kept when the adapter computes in fp32 on a 16-bit model.

    Each adapted layer casts its input x to fp32 before its own A (the copy the cast makes
    is what A's gradient keeps): 4·T·d_in per adapted layer and block. The pure-bf16 count
    already holds one p-byte copy of each distinct input that some trained weight needs (q,
    k, v share theirs); that one is no longer kept, since the frozen layers do not save it."""
    d_in = [arch.shape_of(name)[1] for name in targets]
    fp32_copies = 4 * tokens * sum(d_in)
    q_k_v = {arch.q, arch.k, arch.v}
    shared = {"attn" if arch.relative(name) in q_k_v else arch.relative(name): d for name, d in zip(targets, d_in)}
    return shape.n_layers * (fp32_copies - p * tokens * sum(shared.values()))


def comparison() -> list[tuple[Measured, float]]:
    """(measurement, estimate in GiB) for each of peft's Llama-3.2-3B runs."""
    return [(m, estimate(m).total / GIB) for m in PEFT_LLAMA_32_3B]
