"""Which compute device the app trains on, and the versions behind it."""
from __future__ import annotations

import platform

import torch


def best_device() -> torch.device:
    """The GPU when PyTorch sees one, else the CPU."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def device_label(device: torch.device | None = None) -> str:
    """'NVIDIA H100 80GB HBM3 (CUDA)' or 'CPU (2 threads)'."""
    device = device or best_device()
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA)"
    return f"CPU ({torch.get_num_threads()} threads)"


def versions() -> dict[str, str]:
    """Versions of the libraries the numbers depend on (read from package metadata: importing
    transformers just for its version would slow the app's start)."""
    from importlib.metadata import version

    found = {"python": platform.python_version(), "torch": torch.__version__}
    for package in ("transformers", "streamlit", "plotly"):
        found[package] = version(package)
    return found
