"""A finished real run as the numbers the page shows beside their formulas."""
from __future__ import annotations

from dataclasses import dataclass

from peft_edu.distributed.formulas import FP32, model_state_bytes, ring_allreduce_bytes
from peft_edu.distributed.spec import DistResult

STAGE_OF = {"none": 0, "zero1": 1, "fsdp": 3}  # the run's sharding as a ZeRO stage


@dataclass(frozen=True)
class RunSummary:
    """Rank 0's view of one run, and what the formulas say it should be."""

    label: str
    world_size: int
    trainable: int  # Φ: the values DDP all-reduces
    total: int  # Ψ
    sent_bytes: int  # measured: bytes rank 0 sent per step (last step)
    formula_bytes: float  # 2(N−1)/N · Φ · bytes
    step_s: float  # mean step time (the first step, which builds DDP's buckets, left out)
    comm_s: float  # of which in the all-reduce
    held: list[dict]  # per rank: params, grads, optimizer bytes measured from its tensors
    formula_held: dict  # the same three from model_state_bytes (fp32: k = 8)
    chunks: list[list[int]]  # per bucket of the last step: values of each of its N chunks
    wall_s: float
    hooked: bool  # the ring hook counted the bytes (DDP); FSDP's collectives are not counted

    @property
    def compute_s(self) -> float:
        return max(0.0, self.step_s - self.comm_s)


def summarize(result: DistResult, label: str) -> RunSummary:
    """The page's numbers for a finished run (``result.status == "done"``)."""
    first, spec = result.ranks[0], result.spec
    steps = result.steps[1:] or result.steps
    phi, psi, n = first["trainable"], first["total"], spec.world_size
    per_value = first["grad_bytes_per_value"]
    states = model_state_bytes(per_value * (psi - phi), phi, n, STAGE_OF[spec.sharding], FP32)
    return RunSummary(
        label=label, world_size=n, trainable=phi, total=psi, sent_bytes=first["sent_bytes"],
        formula_bytes=ring_allreduce_bytes(phi, n, per_value),
        step_s=sum(s.step_s for s in steps) / len(steps), comm_s=sum(s.comm_s for s in steps) / len(steps),
        held=[r["held"] for r in result.ranks],
        formula_held={"params": states.weights, "grads": states.gradients, "optimizer": states.optimizer},
        chunks=[list(c) for c in first["chunks"]], wall_s=result.wall_s, hooked=first["hooked"],
    )
