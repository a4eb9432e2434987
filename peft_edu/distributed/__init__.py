"""From one GPU to many: the distributed-training engine.

- ``formulas``: closed forms for memory per GPU under ZeRO stages 0-3 / FSDP, with and
  without a PEFT method, tensor and pipeline parallelism, ring all-reduce traffic.
- ``plan``: the multi-GPU calculator (a configuration, its URL form, one row per method).
- ``measured``: published peak-memory measurements and the single-GPU estimate beside them.
- ``spec`` / ``launch`` / ``worker``: real runs, N processes on torch.distributed (gloo on the
  CPU, NCCL with >= 2 CUDA GPUs) on 127.0.0.1; ``report`` turns one into the page's numbers.
- ``ring``: a ring all-reduce written out with send/recv, used as DDP's communication hook
  so every byte that travels is counted.

No Streamlit here; the page is ``app_pages/distributed.py``.
"""
