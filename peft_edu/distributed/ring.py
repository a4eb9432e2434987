"""A ring all-reduce written out with point-to-point sends, as DDP's communication hook.

DDP (Li et al., "PyTorch Distributed", arXiv 2006.15704) hands each bucket of gradients to a
communication hook. This one averages the bucket with the textbook ring algorithm over N
ranks — N−1 reduce-scatter steps, then N−1 all-gather steps, one chunk of K/N values each —
and counts every byte it sends, so the page can set what really travelled beside
2(N−1)/N · K · bytes. It waits for each bucket before backward continues (no overlap), which
makes the split of a step into compute and communication exact, at some cost in speed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.distributed as dist


@dataclass
class CommStats:
    """What one rank's hook saw since the last ``reset``."""

    sent_bytes: int = 0  # bytes this rank sent to its right neighbour
    payload_bytes: int = 0  # bytes of the gradient buckets averaged (K · bytes per value)
    seconds: float = 0.0  # time spent inside the all-reduces
    buckets: int = 0
    chunks: list[list[int]] = field(default_factory=list)  # per bucket: values of each of its N chunks

    def reset(self) -> None:
        self.sent_bytes = self.payload_bytes = self.buckets = 0
        self.seconds = 0.0
        self.chunks = []


def ring_allreduce_(tensor: torch.Tensor, stats: CommStats | None = None) -> torch.Tensor:
    """Sum ``tensor`` over all ranks in place with a ring; returns it.

    Rank r sends to r+1 and receives from r−1. In reduce-scatter step s it sends chunk
    (r − s) and adds the received chunk (r − s − 1); after N−1 steps it holds the full sum of
    chunk (r + 1). All-gather then passes the finished chunks round the ring."""
    n, rank = dist.get_world_size(), dist.get_rank()
    if n == 1:
        return tensor
    flat = tensor.view(-1)
    chunks = list(torch.tensor_split(flat, n))
    if stats is not None:
        stats.chunks.append([c.numel() for c in chunks])
    right, left = (rank + 1) % n, (rank - 1) % n
    for s in range(n - 1):  # reduce-scatter
        out, into = chunks[(rank - s) % n], chunks[(rank - s - 1) % n]
        into.add_(_exchange(out, into, right, left, stats))
    for s in range(n - 1):  # all-gather
        out, into = chunks[(rank + 1 - s) % n], chunks[(rank - s) % n]
        into.copy_(_exchange(out, into, right, left, stats))
    return tensor


def _exchange(out: torch.Tensor, like: torch.Tensor, right: int, left: int, stats: CommStats | None):
    """Send ``out`` right while receiving a tensor shaped like ``like`` from the left."""
    received = torch.empty_like(like)
    send = dist.isend(out.contiguous(), right)
    recv = dist.irecv(received, left)
    send.wait()
    recv.wait()
    if stats is not None:
        stats.sent_bytes += out.numel() * out.element_size()
    return received


def counting_ring_hook(stats: CommStats, bucket):  # no return annotation: DDP checks it as a real type
    """DDP communication hook: average the bucket with ``ring_allreduce_``, counting bytes and time;
    returns a completed ``torch.futures.Future`` holding the averaged bucket."""
    buffer = bucket.buffer()
    start = time.perf_counter()
    ring_allreduce_(buffer, stats)
    buffer.div_(dist.get_world_size())  # DDP averages: the gradient of the mean loss over all ranks
    stats.seconds += time.perf_counter() - start
    stats.payload_bytes += buffer.numel() * buffer.element_size()
    stats.buckets += 1
    future = torch.futures.Future()
    future.set_result(buffer)
    return future
