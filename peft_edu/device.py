"""Which compute device the app trains on, and the versions behind it.

The app's sidebar asks for the device on its very first render, so this module does not
import torch at import time: without an NVIDIA driver on the machine torch cannot see a
CUDA GPU, and the answer "CPU" needs no torch import (which costs seconds on a small CPU).
"""
from __future__ import annotations

import os
import platform
import shutil
import sys
from importlib.metadata import version
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def nvidia_driver_present() -> bool:
    """True when the machine has an NVIDIA driver (the precondition for CUDA in torch)."""
    return os.path.exists("/proc/driver/nvidia/version") or shutil.which("nvidia-smi") is not None


def cuda_available() -> bool:
    """torch.cuda.is_available(), without importing torch where no driver exists."""
    if not nvidia_driver_present() and "torch" not in sys.modules:
        return False
    import torch

    return torch.cuda.is_available()


def best_device() -> "torch.device":
    """The GPU when PyTorch sees one, else the CPU."""
    import torch

    return torch.device("cuda") if cuda_available() else torch.device("cpu")


def cpu_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cores or 1


def _cpu_label() -> str:
    return f"CPU ({cpu_cores()} cores)"


def device_label(device: "torch.device | str | None" = None) -> str:
    """'NVIDIA H100 80GB HBM3 (CUDA)' or 'CPU (2 cores)'; ``device`` as a torch.device or "cuda"/"cpu"."""
    if device is None and not cuda_available():
        return _cpu_label()
    import torch

    device = torch.device(device) if device is not None else best_device()
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA)"
    return _cpu_label()


def versions() -> dict[str, str]:
    """Versions of the libraries the numbers depend on (read from package metadata:
    importing torch or transformers just for a version would slow the app's start)."""
    found = {"python": platform.python_version()}
    for package in ("torch", "transformers", "streamlit", "plotly"):
        found[package] = version(package)
    return found
