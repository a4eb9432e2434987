"""Full fine-tuning's lesson: everything trains, and what that costs.

Two views of the same fact (ZeRO, arXiv 1910.02054, §3.1: mixed-precision Adam keeps
16 bytes per trainable parameter):
- measured: one real Adam step on the tiny BERT of the transformer lessons, in full and
  with LoRA; the bytes of the gradients and optimizer states PyTorch actually allocated;
- computed: the calculator's memory model (``peft_edu.sizing.memory.training_memory``) for real
  model presets, full fine-tuning next to LoRA.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

import peft_edu
from peft_edu.sizing.activations import ActivationSetup, ModelShape
from peft_edu.lessons.core import one_thread
from peft_edu.lessons.transformer import TASK_B, ce_on, pretrained, task_batch
from peft_edu.sizing.memory import MemoryBreakdown, ParamCounts, hf_shape, precision, training_memory
from peft_edu.methods import protocol
from peft_edu.models import hf_config, preset


def model_shape(name: str) -> ModelShape:
    """The memory model's description of a preset (``assets/models/<name>.json``)."""
    return hf_shape(hf_config(name), preset(name)["task"])


@dataclass(frozen=True)
class StepBytes:
    """What one real Adam step allocated for the trainable parameters (fp32, tiny BERT)."""

    method: str
    trainable: int  # parameters with requires_grad
    total: int  # all parameters
    gradient_bytes: int  # bytes of every .grad after backward
    optimizer_bytes: int  # bytes of Adam's state tensors (exp_avg, exp_avg_sq; step counters excluded)


def step_bytes(method: str, **config) -> StepBytes:
    """Apply ``method`` to the tiny BERT, take one Adam step, measure grads and optimizer state."""
    with one_thread():
        model = peft_edu.apply(pretrained(), method, train_head=True, **config)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=1e-3)
        ce_on(*task_batch(TASK_B, n=16, seed=1))(model).backward()
        grads = sum(p.grad.numel() * p.grad.element_size() for p in params if p.grad is not None)
        opt.step()
        state = sum(t.numel() * t.element_size() for s in opt.state.values()
                    for name, t in s.items() if name != "step")
    return StepBytes(method, peft_edu.trainable_parameters(model), peft_edu.total_parameters(model),
                     grads, state)


COST_PRESETS = ("roberta-base", "Llama-2-7B", "Llama-2-13B", "Llama-2-70B")


@dataclass(frozen=True)
class ModelCost:
    model: str
    method: str  # registry key (the lesson shows full fine-tuning beside LoRA)
    trainable: int
    total: int
    memory: MemoryBreakdown  # bytes by term, 16-bit mixed precision, batch 8 × 512 tokens
    checkpoint_bytes: float  # what is saved per task: whole model (full) or the adapter (LoRA), 16-bit


def model_cost(model: str, method: str, r: int = 8, batch: int = 8, seq: int = 512) -> ModelCost:
    """Training memory and per-task file size of ``method`` on a preset; a method with a size
    knob (LoRA) at ``r`` on q and v, one that trains the base (full) with no knobs."""
    spec = protocol(method)
    knob = peft_edu.METHODS[method].size_knob
    config = {knob: r} if knob else {}
    c = peft_edu.count(model, method, train_head=False, **config)
    shape = model_shape(model)
    linear = shape.n_layers * shape.linear_params_per_layer()
    counts = ParamCounts(total=c["total"], trainable=c["trainable"],
                         base_linear_frozen=0 if spec.trains_base else linear)
    targets = {"targets": ("q", "v")} if spec.uses_targets else {}
    memory = training_memory(shape, counts, method, precision(16), ActivationSetup(batch, seq), **targets, **config)
    return ModelCost(model, method, c["trainable"], c["total"], memory, 2.0 * c["trainable"])
