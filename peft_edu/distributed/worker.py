"""One rank of a real distributed run: ``python -m peft_edu.distributed.worker --rank R ...``.

Every rank builds the same model (same seed), applies the method with ``peft_edu.apply``,
wraps it in DDP with the counting ring all-reduce as communication hook and trains on its
slice of each global batch. It reports on stdout, one JSON object per line (``emit``): rank 0
every step, every rank its final tensors' bytes. Dropout is off (``eval()``) so that the N
ranks and a single process see exactly the same function: the point of the lesson is that
data parallelism changes nothing but where the work happens.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn

from peft_edu.distributed.ring import CommStats, counting_ring_hook
from peft_edu.distributed.spec import RunSpec
from peft_edu.inject import apply
from peft_edu.methods import protocol

TINY_VOCAB = 100


def emit(event: str, **values) -> None:
    """One line of JSON on stdout for the launcher."""
    print(json.dumps({"event": event, **values}), flush=True)


def watch_parent() -> None:
    """Exit when the launcher dies: an orphaned rank would otherwise wait on its peers forever."""
    parent = os.getppid()

    def loop() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(3)

    threading.Thread(target=loop, daemon=True).start()


# ---------------------------------------------------------------- model and data (same on every rank)
def build_model(spec: RunSpec) -> nn.Module:
    """The run's model with the method applied, identical on every rank (seeded)."""
    if spec.model == "tiny":
        from transformers import BertConfig, BertForSequenceClassification

        torch.manual_seed(spec.seed)
        cfg = BertConfig(vocab_size=TINY_VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=64, num_labels=2, max_position_embeddings=128)
        model = BertForSequenceClassification(cfg)
    else:
        from peft_edu.models import load_pretrained

        model, _ = load_pretrained(num_labels=2, seed=spec.seed)
    torch.manual_seed(spec.seed + 1)  # the method's own random init, the same on every rank
    apply(model, spec.method, **dict(spec.options))
    return model.eval()  # no dropout: N ranks compute exactly what one process would


def dataset(spec: RunSpec) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask, labels) of the whole training set, padded to seq_len."""
    if spec.model == "tiny":
        g = torch.Generator().manual_seed(spec.seed)
        ids = torch.randint(1, TINY_VOCAB, (256, spec.seq_len), generator=g)
        return ids, torch.ones_like(ids), torch.randint(0, 2, (256,), generator=g)
    from peft_edu.lab.data import load_builtin
    from peft_edu.models import load_pretrained

    train, _ = load_builtin()
    _, tokenizer = load_pretrained()
    enc = tokenizer(list(train.texts), padding="max_length", truncation=True, max_length=spec.seq_len,
                    return_tensors="pt")
    return enc["input_ids"], enc["attention_mask"], torch.tensor(train.labels, dtype=torch.long)


def global_batch(spec: RunSpec, step: int, n_rows: int) -> torch.Tensor:
    """Row indices of step ``step``'s global batch (N × batch_per_rank rows), the same everywhere."""
    size = spec.world_size * spec.batch_per_rank
    g = torch.Generator().manual_seed(spec.seed + 1000 + step)
    return torch.randperm(n_rows, generator=g)[:size]


def rank_slice(spec: RunSpec, idx: torch.Tensor, rank: int) -> torch.Tensor:
    """This rank's share of a global batch: rows [rank·b, (rank+1)·b)."""
    b = spec.batch_per_rank
    return idx[rank * b:(rank + 1) * b]


def reference_gradients(spec: RunSpec) -> dict[str, torch.Tensor]:
    """One process, the whole first global batch: the gradients DDP must reproduce."""
    model = build_model(spec)
    ids, mask, labels = dataset(spec)
    idx = global_batch(spec, 0, len(labels))
    model(input_ids=ids[idx], attention_mask=mask[idx], labels=labels[idx]).loss.backward()
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


# ---------------------------------------------------------------- measuring the rank's tensors
def local(t: torch.Tensor) -> torch.Tensor:
    """This rank's part of a tensor: its shard of an FSDP2 (DTensor) parameter, else the tensor."""
    return t.to_local() if hasattr(t, "to_local") else t


def tensor_bytes(tensors) -> int:
    return sum(local(t).numel() * local(t).element_size() for t in tensors if torch.is_tensor(t))


def optimizer_state_bytes(optimizer) -> int:
    """Bytes of the optimizer states this rank holds: Adam's m and v. The step counter (one
    scalar per parameter tensor, not per value) is left out, as the k·Φ of the formulas does."""
    inner = getattr(optimizer, "optim", optimizer)  # ZeroRedundancyOptimizer keeps its shard's optimizer here
    return sum(tensor_bytes(v for k, v in state.items() if k != "step") for state in inner.state.values())


def held_bytes(model: nn.Module, optimizer) -> dict[str, int]:
    """Parameter, gradient and optimizer-state bytes held by this rank right now."""
    params = list(model.parameters())
    return {"params": tensor_bytes(params), "grads": tensor_bytes(p.grad for p in params),
            "optimizer": optimizer_state_bytes(optimizer)}


# ---------------------------------------------------------------- the run
def make_optimizer(spec: RunSpec, model: nn.Module):
    """The method's parameter groups under AdamW; ZeRO-1 shards their states over the ranks."""
    method = protocol(spec.method)
    groups = method.param_groups(model, spec.lr, method.config(**dict(spec.options)))
    if spec.sharding == "zero1":
        from torch.distributed.optim import ZeroRedundancyOptimizer

        params = [p for g in groups for p in g["params"]]
        return ZeroRedundancyOptimizer(params, optimizer_class=torch.optim.AdamW, lr=spec.lr)
    return torch.optim.AdamW(groups, lr=spec.lr)


def dump_gradients(spec: RunSpec, model: nn.Module, rank: int) -> None:
    """Every trainable gradient, whole (an FSDP2 shard is gathered: a collective every rank joins)."""
    grads = {}
    for n, p in model.named_parameters():
        if p.requires_grad:
            g = p.grad.full_tensor() if hasattr(p.grad, "full_tensor") else p.grad
            grads[n] = g.detach().cpu().clone()
    torch.save(grads, os.path.join(spec.dump_dir, f"rank{rank}.pt"))


def wrap(spec: RunSpec, model: nn.Module, device: torch.device, stats: CommStats) -> nn.Module:
    """DDP with the counting ring hook; or FSDP2, which shards every block, then the rest
    (Zhao et al., "PyTorch FSDP", arXiv 2304.11277). FSDP's own all-gathers and
    reduce-scatters are not hooked: its lesson is what each rank holds."""
    if spec.sharding == "fsdp":
        from torch.distributed.fsdp import fully_shard

        from peft_edu.models import arch_of

        for block in model.get_submodule(arch_of(model).blocks):
            fully_shard(block)
        return fully_shard(model)
    from torch.nn.parallel import DistributedDataParallel as DDP

    ddp = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    ddp.register_comm_hook(stats, counting_ring_hook)
    return ddp


def train(spec: RunSpec, rank: int, device: torch.device) -> dict:
    """The training loop of one rank; returns its final report."""
    model = build_model(spec).to(device)
    ids, mask, labels = dataset(spec)
    stats = CommStats()
    ddp = wrap(spec, model, device, stats)
    optimizer, after = make_optimizer(spec, model), protocol(spec.method).after_step
    times, held = [], {}
    for step in range(spec.steps):
        stats.reset()
        rows = rank_slice(spec, global_batch(spec, step, len(labels)), rank)
        start = time.perf_counter()
        out = ddp(input_ids=ids[rows].to(device), attention_mask=mask[rows].to(device), labels=labels[rows].to(device))
        out.loss.backward()
        if step == 0 and spec.dump_dir:
            dump_gradients(spec, model, rank)
        optimizer.step()
        if step == spec.steps - 1:
            held = held_bytes(model, optimizer)  # grads and optimizer states both exist here
        optimizer.zero_grad(set_to_none=True)
        if after is not None:
            after(model)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        took = time.perf_counter() - start
        times.append(took)
        if rank == 0:
            eta = sum(times) / len(times) * (spec.steps - step - 1)
            emit("step", step=step + 1, steps=spec.steps, eta_s=eta, loss=float(out.loss.detach()), step_s=took,
                 comm_s=stats.seconds, sent_bytes=stats.sent_bytes)
    return {"rank": rank, "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "total": sum(p.numel() for p in model.parameters()), "payload_bytes": stats.payload_bytes,
            "sent_bytes": stats.sent_bytes, "buckets": stats.buckets, "chunks": list(stats.chunks),  # the last step's buckets
            "comm_s": stats.seconds, "step_s": times[-1], "held": held,
            "grad_bytes_per_value": next(p.element_size() for p in model.parameters() if p.requires_grad),
            "hooked": spec.sharding != "fsdp"}


def backend_for(spec: RunSpec) -> str:
    if spec.backend != "auto":
        return spec.backend
    return "nccl" if torch.cuda.device_count() >= spec.world_size else "gloo"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rank", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--spec", required=True, help="RunSpec as JSON")
    args = parser.parse_args(argv)
    spec = RunSpec.from_json(args.spec)
    watch_parent()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // spec.world_size))
    backend = backend_for(spec)
    try:  # only the loopback address: these runs never leave the machine
        dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{args.port}", rank=args.rank,
                                world_size=spec.world_size, timeout=timedelta(seconds=spec.start_timeout_s))
    except Exception as err:  # noqa: BLE001 - the launcher turns this into the learner's message
        emit("error", rank=args.rank, message=f"{backend} could not start: {type(err).__name__}: {err}")
        return 2
    emit("ready", rank=args.rank, backend=backend)
    device = torch.device(f"cuda:{args.rank}") if backend == "nccl" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    try:
        report = train(spec, args.rank, device)
        dist.barrier()  # no rank tears its connections down while a peer still talks to it
        emit("result", **report)
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Leave without the interpreter's teardown: now and then a gloo thread still owned by an object
    # freed at shutdown aborts the process (std::terminate) after the run is already complete.
    os._exit(code)
