"""Measured peak training memory vs the calculator's estimate, on all-MiniLM-L6-v2.

    python benchmarks/measure_memory.py [--batch 16] [--seq 128] [--steps 3]

Each case runs in a fresh subprocess. On CUDA the peak is torch.cuda.max_memory_allocated.
On the CPU it is the resident-set high-water mark (VmHWM, reset through
/proc/self/clear_refs just before the model is built) minus the resident set before it;
glibc is told to serve every allocation over 64 kB with mmap so that freed tensors leave
the resident set at once and the high-water mark tracks live tensors.

The weights are the real model's shapes with a random initialisation
(``from_config``): memory depends on shapes and dtypes, not on the values, and this keeps
the safetensors file's memory map out of the measurement. LoRA and QLoRA use Hugging Face
peft and bitsandbytes (NF4, the reference implementations); the estimate comes from
``peft_edu.sizing.memory`` with the parameter counts of the model that was measured.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {  # name -> (method for the memory model, weight bits, double quant, checkpointing)
    "full fine-tuning": ("full", 32, False, False),
    "full + checkpointing": ("full", 32, False, True),
    "LoRA r=8 q,v": ("lora", 32, False, False),
    "QLoRA r=8 q,v (NF4)": ("qlora", 4, False, False),
    "QLoRA r=8 q,v (NF4+DQ)": ("qlora", 4, True, False),
    "QLoRA r=8 all-linear + ckpt": ("qlora_all", 4, True, True),
}
TOLERANCE = 0.25


def _rss_bytes() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _hwm_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def start_peak(device) -> int:
    """Reset the peak-memory counter of ``device`` and return the baseline in bytes."""
    import torch

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated()
    base = _rss_bytes()
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    return base


def peak_since(device, base: int) -> int:
    """Peak bytes above ``base`` since ``start_peak``: CUDA allocations, or the RSS high-water mark."""
    import torch

    return (torch.cuda.max_memory_allocated() if device.type == "cuda" else _hwm_bytes()) - base


def _build(method: str, double_quant: bool, device):
    """all-MiniLM-L6-v2's architecture with a 2-label head, the method applied."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from peft_edu.models import minilm_dir

    config = AutoConfig.from_pretrained(minilm_dir(), num_labels=2, local_files_only=True)
    config._attn_implementation = "eager"  # the standard kernel: the s×s scores are stored
    model = AutoModelForSequenceClassification.from_config(config).to(device)
    base_total = sum(p.numel() for p in model.parameters())
    linear = 0
    if method in ("qlora", "qlora_all"):
        linear = _quantize_encoder(model, double_quant, device)
    if method != "full":
        from peft import LoraConfig, get_peft_model

        targets = ["query", "value"] if method != "qlora_all" else ["query", "key", "value", "dense"]
        lora = LoraConfig(r=8, lora_alpha=8, target_modules=targets, task_type="SEQ_CLS")
        model = get_peft_model(model, lora)
        if method == "lora":  # same frozen linear weights as QLoRA, for the memory model
            linear = _encoder_linear_weights(model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    lora_params = sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)
    head_copy = trainable - lora_params if method != "full" else 0  # peft's modules_to_save copy
    counts = dict(total=base_total + lora_params + head_copy, trainable=trainable, base_linear_frozen=linear)
    return model.train(), counts, config


def _encoder_linear_weights(model) -> int:
    import torch

    return sum(
        m.in_features * m.out_features
        for name, m in model.named_modules()
        if ".layer." in name and isinstance(m, torch.nn.Linear) and "lora_" not in name
    )


def _quantize_encoder(model, double_quant: bool, device) -> int:
    """Swap every linear layer of the encoder blocks for a bitsandbytes NF4 layer."""
    import bitsandbytes as bnb
    import torch

    n_weights = 0
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if ".layer." not in f"{name}." or not isinstance(child, torch.nn.Linear):
                continue
            q = bnb.nn.Linear4bit(
                child.in_features, child.out_features, bias=child.bias is not None,
                compute_dtype=torch.float32, compress_statistics=double_quant, quant_type="nf4",
                device="meta",
            )
            q.weight = bnb.nn.Params4bit(child.weight.data, requires_grad=False, quant_type="nf4",
                                         compress_statistics=double_quant).to(device)
            if child.bias is not None:
                q.bias = torch.nn.Parameter(child.bias.data, requires_grad=False)
            setattr(module, child_name, q)
            n_weights += child.in_features * child.out_features
    return n_weights


def child(case: str, batch: int, seq: int, steps: int) -> dict:
    """Run one case in this (fresh) process and return measured and estimated bytes."""
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(2)
    method, bits, dq, ckpt = CASES[case]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    import bitsandbytes  # noqa: F401  (imported before the baseline: its code is not training memory)
    import peft  # noqa: F401

    ids = torch.randint(1000, 20000, (batch, seq), device=device)
    labels = torch.randint(0, 2, (batch,), device=device)
    base = start_peak(device)
    model, counts, config = _build(method, dq, device)
    if ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    for _ in range(steps):
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return dict(case=case, measured=peak_since(device, base), counts=counts, device=str(device), estimate=_estimate(case, counts, config, batch, seq))


def _estimate(case: str, counts: dict, config, batch: int, seq: int) -> dict:
    """The calculator's memory model for the same model, batch, sequence and precision."""
    import torch

    from peft_edu.methods import protocol
    from peft_edu.sizing.memory import ActivationSetup, ParamCounts, Precision, hf_shape, nf4_bits_per_weight
    from peft_edu.sizing.memory import precision, training_memory

    name, bits, dq, ckpt = CASES[case]
    method = name.replace("_all", "")  # "qlora_all": QLoRA on every linear layer
    shape = hf_shape(config, "seq_cls")  # the measured model: a 2-label classifier, no LM head
    setup = ActivationSetup(batch, seq, checkpointing=ckpt, fused_attention=False, dropout=True)
    prec = precision(32)
    if bits == 4:  # NF4 base, everything else fp32 on the CPU (bitsandbytes compute_dtype)
        prec = Precision("NF4, fp32 compute", nf4_bits_per_weight(dq), 4, 4, 4, 0, 4)
    targets = ("q", "k", "v", "o", "mlp") if name == "qlora_all" else ("q", "v")
    # PyTorch's CPU dropout keeps its mask as a float tensor (4 bytes a value), CUDA as bool
    mask_bytes = 1 if torch.cuda.is_available() else 4
    rank = {"r": 8} if protocol(method).uses_targets else {}  # full fine-tuning has no rank
    mem = training_memory(shape, ParamCounts(**counts), method, prec, setup,
                          mask_bytes=mask_bytes, targets=targets, **rank)
    return mem.parts() | {"Total": mem.total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--child", choices=list(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.batch, args.seq, args.steps)))
        return
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="0",
               PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    print(f"all-MiniLM-L6-v2, batch {args.batch}, sequence {args.seq}, AdamW, {args.steps} steps, "
          "eager attention, dropout 0.1\n")
    print(f"{'case':30} {'weights':>9} {'grads':>8} {'optim':>8} {'activ.':>8} {'estimate':>9} {'measured':>9} {'ratio':>6}")
    worst = 0.0
    for case in CASES:
        cmd = [sys.executable, __file__, "--child", case, "--batch", str(args.batch), "--seq", str(args.seq),
               "--steps", str(args.steps)]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
        if out.returncode:
            print(f"{case:30} FAILED:\n{out.stderr[-2000:]}")
            continue
        row = json.loads(out.stdout.strip().splitlines()[-1])
        est, meas = row["estimate"], row["measured"]
        ratio = meas / est["Total"]
        worst = max(worst, abs(ratio - 1))
        mb = [f"{est[k] / 1e6:8.1f}" for k in ("Weights", "Gradients", "Optimizer states", "Activations")]
        print(f"{case:30} {mb[0]:>9} {mb[1]} {mb[2]} {mb[3]} {est['Total'] / 1e6:9.1f} {meas / 1e6:9.1f} {ratio:6.2f}")
    print(f"\n(MB = 10^6 bytes; device: {row['device'] if CASES else '?'}) worst deviation {worst:.0%}, "
          f"target within {TOLERANCE:.0%}: {'PASS' if worst <= TOLERANCE else 'FAIL'}")


if __name__ == "__main__":
    main()
