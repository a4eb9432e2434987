"""What a real distributed run does (``RunSpec``) and what it reports (``DistStep``, ``DistResult``).

Plain data shared by the launcher (``peft_edu.distributed.launch``), the worker processes
(``peft_edu.distributed.worker``) and the page; the spec travels to the workers as JSON.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from peft_edu.registry import METHODS

MODELS = {  # run model -> what it is
    "minilm": "all-MiniLM-L6-v2 (22.7M parameters, pretrained, the lab's data)",
    "tiny": "a tiny BERT (d = 32, 2 layers, random tokens: for tests and slow machines)",
}
SHARDING = {  # how optimizer states are kept
    "none": "DDP: every rank keeps every optimizer state",
    "zero1": "ZeRO-1: ZeroRedundancyOptimizer shards the optimizer states over the ranks",
    "fsdp": "FSDP2 (fully_shard, = ZeRO-3): weights, gradients and optimizer states sharded",
}


@dataclass(frozen=True)
class RunSpec:
    """One real run of N worker processes."""

    method: str = "lora"  # registry key, applied with peft_edu.apply
    options: tuple[tuple[str, object], ...] = (("r", 8),)  # the method's Config fields
    world_size: int = 2  # worker processes (ranks)
    steps: int = 8  # optimizer steps
    batch_per_rank: int = 8  # sequences each rank sees per step (global batch = N × this)
    seq_len: int = 32  # tokens per sequence (padded / truncated)
    model: str = "minilm"  # a key of MODELS
    sharding: str = "none"  # a key of SHARDING
    lr: float = 1e-4  # AdamW learning rate
    seed: int = 0  # the same model and batches on every rank
    backend: str = "auto"  # "auto": nccl with >= world_size CUDA GPUs, else gloo
    dump_dir: str = ""  # if set, every rank saves its gradients after the first backward there
    start_timeout_s: float = 60.0  # how long ranks wait for each other at rendezvous

    def check(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; valid: {', '.join(METHODS)}")
        if not 1 <= self.world_size <= 8:
            raise ValueError(f"world_size must be 1 to 8, got {self.world_size}")
        if not 1 <= self.steps <= 200 or not 1 <= self.batch_per_rank <= 64 or not 4 <= self.seq_len <= 128:
            raise ValueError("steps 1-200, batch_per_rank 1-64 and seq_len 4-128")
        if self.model not in MODELS or self.sharding not in SHARDING:
            raise ValueError(f"model must be one of {list(MODELS)}, sharding one of {list(SHARDING)}")
        if self.backend not in ("auto", "gloo", "nccl"):
            raise ValueError(f"backend must be auto, gloo or nccl, got {self.backend!r}")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "RunSpec":
        raw = json.loads(text)
        raw["options"] = tuple(tuple(pair) for pair in raw["options"])
        return cls(**raw)


@dataclass(frozen=True)
class DistStep:
    """One optimizer step as rank 0 saw it (the job queue reads step, steps, eta_s)."""

    step: int  # 1-based
    steps: int
    eta_s: float  # seconds left, from the mean step time so far
    loss: float
    step_s: float  # wall time of forward + backward + optimizer step
    comm_s: float  # of which inside the all-reduce hook
    sent_bytes: int  # bytes rank 0 sent in this step's all-reduces


@dataclass
class DistResult:
    """The whole run, once it ended (``status`` is one of peft_edu.lab.jobs.FINISHED)."""

    status: str
    message: str
    spec: RunSpec
    backend: str = ""
    ranks: list[dict] = field(default_factory=list)  # each rank's final report (worker.report)
    steps: list[DistStep] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)  # the worker processes (all gone when this exists)
    wall_s: float = 0.0  # from launch to the last worker's exit
    model: None = None  # the job queue frees trained models; a distributed run keeps none
