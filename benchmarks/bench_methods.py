"""A training step of peft_edu vs Hugging Face peft on all-MiniLM-L6-v2: time and memory.

    python benchmarks/bench_methods.py [--batch 16] [--seq 32] [--steps 10] [--threads 1] [--methods lora,dora]

For LoRA, DoRA, VeRA, (IA)³ and prompt tuning, with the same configuration on both sides
(LoRA/DoRA r=8, alpha=8 on query,value; VeRA r=256 on query,value; (IA)³ on key, value and
the FFN output.dense; prompt tuning 20 virtual tokens), AdamW, cross-entropy, dropout on:

- step time: one process per method builds both models and alternates their steps
  (peft_edu, peft, peft, peft_edu, ...) after warm-up, so load from other processes hits both
  alike; the table shows the median of ``--steps`` steps each, in wall-clock time and in
  CPU time of the process (the work done, which load from other processes barely changes;
  one torch thread by default, so that CPU time is not inflated by threads waiting on
  each other);
- peak memory: a fresh process per (method, library) runs two steps; on CUDA
  torch.cuda.max_memory_allocated, on the CPU the resident-set high-water mark above the
  level before the model is built (the same method as benchmarks/measure_memory.py);
- kept for backward: bytes of the tensors autograd saves in the forward pass (parameters
  excluded), counted with saved_tensors_hooks: deterministic, and where the two differ.

The weights are the real model's shapes with a random init (``from_config``): speed and
memory depend on shapes, not values. Target: peft_edu / peft <= 1.0 for time and memory.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("lora", "dora", "vera", "ia3", "prompt_tuning")
IA3_PEFT = (r".*\.(key|value)|.*layer\.\d+\.output\.dense", r".*layer\.\d+\.output\.dense")  # the paper's places
TARGET = 1.0


def build(method: str, library: str):
    """all-MiniLM-L6-v2's architecture with a 2-label head and ``method`` from ``library``."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    import peft_edu
    from peft_edu.models import minilm_dir

    torch.manual_seed(0)
    config = AutoConfig.from_pretrained(minilm_dir(), num_labels=2, local_files_only=True)
    model = AutoModelForSequenceClassification.from_config(config)
    if library == "peft_edu":
        options = {"lora": {"r": 8, "alpha": 8}, "dora": {"r": 8, "alpha": 8}, "vera": {"r": 256},
                   "ia3": {}, "prompt_tuning": {"n_tokens": 20}}[method]
        targets = {"targets": "query,value"} if method in ("lora", "dora", "vera") else {}
        return peft_edu.apply(model, method, **options, **targets).train()
    return peft_model(model, method).train()


def peft_model(model, method: str):
    from peft import IA3Config, LoraConfig, PromptTuningConfig, VeraConfig, get_peft_model

    common = {"task_type": "SEQ_CLS"}
    config = {
        "lora": lambda: LoraConfig(r=8, lora_alpha=8, target_modules=["query", "value"], **common),
        "dora": lambda: LoraConfig(r=8, lora_alpha=8, target_modules=["query", "value"], use_dora=True, **common),
        "vera": lambda: VeraConfig(r=256, target_modules=["query", "value"], **common),
        "ia3": lambda: IA3Config(target_modules=IA3_PEFT[0], feedforward_modules=IA3_PEFT[1], **common),
        "prompt_tuning": lambda: PromptTuningConfig(num_virtual_tokens=20, **common),
    }[method]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return get_peft_model(model, config)


def make_batch(batch: int, seq: int, device):
    import torch

    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1000, 20000, (batch, seq), generator=g).to(device)
    return ids, torch.ones_like(ids), torch.randint(0, 2, (batch,), generator=g).to(device)


def step(model, opt, data) -> None:
    import torch.nn.functional as F

    ids, mask, labels = data
    loss = F.cross_entropy(model(input_ids=ids, attention_mask=mask).logits, labels)
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)


def optimizer(model):
    import torch

    return torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)


def saved_bytes(model, data) -> int:
    """Bytes of the distinct non-parameter tensors autograd keeps for the backward pass."""
    import torch

    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages = {}

    def pack(t):
        s = t.untyped_storage()
        if s.data_ptr() not in params:
            storages[s.data_ptr()] = s.nbytes()
        return t

    ids, mask, _ = data
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(input_ids=ids, attention_mask=mask).logits
    del out
    return sum(storages.values())


def time_child(method: str, batch: int, seq: int, steps: int) -> dict:
    """Both libraries in this process, their steps alternated; wall and CPU seconds per step."""
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data = make_batch(batch, seq, device)
    models = {lib: build(method, lib).to(device) for lib in ("peft_edu", "peft")}
    opts = {lib: optimizer(m) for lib, m in models.items()}
    times = {lib: [] for lib in models}
    cpu = {lib: [] for lib in models}
    for i in range(3 + steps):
        order = list(models.items()) if i % 2 == 0 else list(models.items())[::-1]  # ABBA: no order bias
        for lib, model in order:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start, start_cpu = time.perf_counter(), time.process_time()
            step(model, opts[lib], data)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i >= 3:  # warm-up steps are not timed
                times[lib].append(time.perf_counter() - start)
                cpu[lib].append(time.process_time() - start_cpu)
    trainable = {lib: sum(p.numel() for p in m.parameters() if p.requires_grad) for lib, m in models.items()}
    saved = {lib: saved_bytes(m, data) for lib, m in models.items()}
    return {"times": times, "cpu": cpu, "trainable": trainable, "saved": saved, "device": str(device)}


def memory_child(method: str, library: str, batch: int, seq: int) -> dict:
    """Peak bytes of two training steps in this fresh process."""
    import torch

    from benchmarks.measure_memory import peak_since, start_peak

    import peft  # noqa: F401  (library code is not training memory: load it before the baseline)
    import peft_edu.inject  # noqa: F401
    import peft_edu.methods.dora, peft_edu.methods.ia3, peft_edu.methods.prompt_tuning, peft_edu.methods.vera  # noqa: E401,F401

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data = make_batch(batch, seq, device)
    base = start_peak(device)
    model = build(method, library).to(device)
    opt = optimizer(model)
    for _ in range(2):
        step(model, opt, data)
    peak = peak_since(device, base)
    return {"peak": peak}


def run_child(*args: str) -> dict:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="0",
               PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    out = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import torch

        torch.set_num_threads(args.threads)
        kind, method, *rest = args.child
        result = (time_child(method, args.batch, args.seq, args.steps) if kind == "time"
                  else memory_child(method, rest[0], args.batch, args.seq))
        print(json.dumps(result))
        return
    size = ["--batch", str(args.batch), "--seq", str(args.seq), "--steps", str(args.steps), "--threads", str(args.threads)]
    print(f"all-MiniLM-L6-v2, batch {args.batch}, {args.seq} tokens, AdamW, {args.threads} torch thread(s), "
          f"median of {args.steps} steps each\n")
    print(f"{'method':14} {'trainable':>10} {'wall ms: ours':>14} {'peft':>7} {'ratio':>6} {'cpu ms: ours':>13} "
          f"{'peft':>7} {'ratio':>6} {'peak MB: ours':>14} {'peft':>7} {'ratio':>6} {'saved MB: ours':>15} {'peft':>7} {'ratio':>6}")
    worst = [0.0] * 4
    for method in args.methods.split(","):
        t = run_child(*size, "--child", "time", method)
        mem = {lib: run_child(*size, "--child", "memory", method, lib)["peak"] for lib in ("peft_edu", "peft")}
        ms = {lib: 1000 * statistics.median(v) for lib, v in t["times"].items()}
        cpu = {lib: 1000 * statistics.median(v) for lib, v in t["cpu"].items()}
        ratios = (ms["peft_edu"] / ms["peft"], cpu["peft_edu"] / cpu["peft"], mem["peft_edu"] / mem["peft"],
                  t["saved"]["peft_edu"] / t["saved"]["peft"])
        worst = [max(w, r) for w, r in zip(worst, ratios)]
        count = f"{t['trainable']['peft_edu']:,}" + ("" if t["trainable"]["peft_edu"] == t["trainable"]["peft"] else "≠peft")
        print(f"{method:14} {count:>10} {ms['peft_edu']:14.1f} {ms['peft']:7.1f} {ratios[0]:6.2f} "
              f"{cpu['peft_edu']:13.1f} {cpu['peft']:7.1f} {ratios[1]:6.2f} "
              f"{mem['peft_edu'] / 1e6:14.1f} {mem['peft'] / 1e6:7.1f} {ratios[2]:6.2f} "
              f"{t['saved']['peft_edu'] / 1e6:15.1f} {t['saved']['peft'] / 1e6:7.1f} {ratios[3]:6.2f}")
    print(f"\n(MB = 10^6 bytes; device: {t['device']}; ratio = peft_edu / peft; target <= {TARGET:.1f})")
    for name, w in zip(("wall time", "CPU time", "peak memory", "kept for backward"), worst):
        print(f"worst {name:17} ratio {w:.2f}: {'PASS' if w <= TARGET else 'FAIL'}")
    print("Wall time on a CPU shared with other processes varies by 10-20% from step to step; "
          "CPU time measures the work.")


if __name__ == "__main__":
    main()
