"""Real torch.distributed runs (2 gloo processes on 127.0.0.1, the tiny BERT): DDP gradients equal
one process's on the same global batch, the bytes the ring sends equal 2(N−1)/N·K·bytes, ZeRO-1
shards the optimizer states, and no worker process outlives a run, however it ends."""
from __future__ import annotations

import dataclasses

import psutil
import pytest
import torch

from peft_edu.distributed.formulas import FP32, model_state_bytes, ring_allreduce_bytes
from peft_edu.distributed.launch import run
from peft_edu.distributed.spec import RunSpec
from peft_edu.distributed.worker import reference_gradients
from tests.workers import live_workers

N = 2


def assert_no_workers_left(result) -> None:
    alive = [pid for pid in result.pids if psutil.pid_exists(pid)
             and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"worker processes left: {alive}"
    assert live_workers() == []


def run_and_compare(spec: RunSpec, tmp_path):
    spec = dataclasses.replace(spec, dump_dir=str(tmp_path))
    result = run(spec)
    assert result.status == "done", result.message
    assert_no_workers_left(result)
    expected = reference_gradients(spec)
    for rank in range(N):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        assert got.keys() == expected.keys()
        for name, grad in expected.items():
            torch.testing.assert_close(got[name], grad, rtol=0, atol=1e-6, msg=f"rank {rank}: {name}")
    return result


def assert_bytes_equal_formula(result) -> None:
    for rank in result.ranks:
        phi = rank["trainable"]
        assert rank["payload_bytes"] == phi * 4  # fp32 gradients of exactly the trainable values
        assert rank["sent_bytes"] == ring_allreduce_bytes(phi, N, 4)
        assert sum(map(sum, rank["chunks"])) == phi  # the buckets' chunks cut exactly the Φ values
        assert all(max(c) - min(c) <= 1 for c in rank["chunks"])  # N chunks of K/N values each


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory):
    spec = RunSpec(method="lora", options=(("r", 4),), model="tiny", steps=2, world_size=N)
    return run_and_compare(spec, tmp_path_factory.mktemp("lora"))


@pytest.fixture(scope="module")
def full_zero1_run(tmp_path_factory):
    spec = RunSpec(method="full", options=(), model="tiny", steps=2, world_size=N, sharding="zero1")
    return run_and_compare(spec, tmp_path_factory.mktemp("full"))


def test_lora_ddp_gradients_and_bytes(lora_run):
    assert_bytes_equal_formula(lora_run)
    assert lora_run.backend == "gloo" and len(lora_run.steps) == 2
    phi, psi = lora_run.ranks[0]["trainable"], lora_run.ranks[0]["total"]
    assert 0 < phi < psi / 5
    held = lora_run.ranks[0]["held"]  # DDP: every rank holds everything (stage 0)
    expected = model_state_bytes(4 * (psi - phi), phi, N, 0, FP32)
    assert (held["params"], held["grads"], held["optimizer"]) == (expected.weights, expected.gradients,
                                                                 expected.optimizer)


def test_full_zero1_gradients_bytes_and_shards(full_zero1_run):
    assert_bytes_equal_formula(full_zero1_run)
    psi = full_zero1_run.ranks[0]["total"]
    shards = [r["held"]["optimizer"] for r in full_zero1_run.ranks]
    expected = model_state_bytes(0, psi, N, 1, FP32)  # ZeRO-1: optimizer states / N
    assert sum(shards) == N * expected.optimizer  # every state lives on exactly one rank
    biggest = 32 * 100 * 8  # whole tensors go to one rank: the word embeddings (100 × 32) is the largest
    for r in full_zero1_run.ranks:
        assert abs(r["held"]["optimizer"] - expected.optimizer) <= biggest
        assert (r["held"]["params"], r["held"]["grads"]) == (expected.weights, expected.gradients)


def test_fsdp_shards_weights_gradients_and_states(tmp_path):
    """FSDP2 (fully_shard on gloo) under LoRA: the same gradients, and each rank holds 1/N of every
    kind of state, frozen weights included (ZeRO-3: 2Ψ/N + (2 + k)Φ/N, here in fp32)."""
    spec = RunSpec(method="lora", options=(("r", 4),), model="tiny", steps=1, world_size=N, sharding="fsdp")
    result = run_and_compare(spec, tmp_path)
    phi, psi = result.ranks[0]["trainable"], result.ranks[0]["total"]
    expected = model_state_bytes(4 * (psi - phi), phi, N, 3, FP32)
    for kind, want in (("params", expected.weights), ("grads", expected.gradients), ("optimizer", expected.optimizer)):
        held = [r["held"][kind] for r in result.ranks]
        assert sum(held) == N * want, kind  # every value lives on exactly one rank
        assert max(held) - min(held) <= 2 * 32 * 4, (kind, held)  # dim-0 shards: at most a row apart


def test_a_third_method_under_ddp(tmp_path):
    """(IA)³, applied with peft_edu.apply like the others: same gradients, bytes as the formula."""
    result = run_and_compare(RunSpec(method="ia3", options=(), model="tiny", steps=1, world_size=N), tmp_path)
    assert_bytes_equal_formula(result)


def test_stop_ends_every_worker():
    seen = []
    spec = RunSpec(method="lora", options=(("r", 4),), model="tiny", steps=200, world_size=N)
    result = run(spec, on_metrics=seen.append, should_stop=lambda: len(seen) >= 1)
    assert result.status == "stopped" and "Stopped" in result.message
    assert_no_workers_left(result)


def test_a_backend_that_cannot_start_gives_a_clear_message():
    if torch.cuda.device_count() >= N:
        pytest.skip("NCCL can start here")
    spec = RunSpec(method="lora", options=(("r", 4),), model="tiny", steps=1, world_size=N, backend="nccl",
                   start_timeout_s=10)
    result = run(spec, timeout_s=60)
    assert result.status == "failed" and "could not start" in result.message, result.message
    assert_no_workers_left(result)
