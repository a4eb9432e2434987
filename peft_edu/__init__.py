"""peft_edu: parameter-efficient fine-tuning methods, written from scratch to be read.

The public API (stable names; see DESIGN.md). Import-light: torch-heavy modules load
when first used.
"""
from peft_edu.registry import METHODS, MethodSpec, get_method

# Methods, apply, counts (peft_edu.inject, peft_edu.counting) and adapters on disk in
# Hugging Face PEFT's format (peft_edu.export), loaded on first use.
_LAZY = {
    "apply": "peft_edu.inject",
    "trainable_parameters": "peft_edu.inject",
    "total_parameters": "peft_edu.inject",
    "layer_params": "peft_edu.inject",
    "merge": "peft_edu.inject",
    "unmerge": "peft_edu.inject",
    "applied": "peft_edu.inject",
    "count": "peft_edu.counting",
    "arch_of": "peft_edu.models",
    "preset_names": "peft_edu.models",
    "toy_mlp": "peft_edu.models",
    "save_adapter": "peft_edu.export",
    "load_adapter": "peft_edu.export",
    "adapter_zip": "peft_edu.export",
    "protocol": "peft_edu.methods",
}

__all__ = ["METHODS", "MethodSpec", "get_method", *_LAZY]


def __getattr__(name: str):
    """Load a public function from its module on first access (keeps `import peft_edu` light)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'peft_edu' has no attribute {name!r}")
