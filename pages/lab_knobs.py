"""The lab's knobs: which method, its size knobs and the run's budget, defaults per method.

UI only: widgets start from ``peft_edu.run_config.defaults(method)`` and show the fields
``KNOBS[method]`` says the method reads; the result is the ``RunConfig`` of the next run.
"""
from __future__ import annotations

import dataclasses

import streamlit as st

from peft_edu.run_config import KNOBS, METHOD_CHOICES, RunConfig, defaults, label

LR_CHOICES = (1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 2e-2, 3e-2, 5e-2, 1e-1)
RANK_CHOICES = (1, 2, 4, 8, 16, 32, 64)
VERA_RANK_CHOICES = (16, 32, 64, 128, 256, 384)  # VeRA needs a large shared rank (paper §3)
ALPHA_CHOICES = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
RATIO_CHOICES = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
TOKEN_CHOICES = (1, 5, 10, 20, 50)
BOTTLENECK_CHOICES = (8, 16, 32, 64, 128, 256)
BATCH_CHOICES = (4, 8, 16, 32)
STEP_RANGE = (1, 2000)


def method_label(key: str) -> str:
    return label(key)


def _k(method: str, name: str) -> str:
    """Widget key per method, so every method keeps its own knob values."""
    return f"lab_knob_{method}_{name}"


def _nearest(choices: tuple, value):
    return min(choices, key=lambda c: abs(c - value))


def _select(method: str, name: str, text: str, choices: tuple, default, help_: str | None = None):
    return st.select_slider(text, choices, value=_nearest(choices, default), key=_k(method, name), help=help_,
                            format_func=lambda v: f"{v:g}")


def method_knobs(method: str, start: RunConfig) -> dict:
    """The method's own knobs (fields of ``RunConfig``) from their widgets."""
    wanted, values = KNOBS[method], {}
    if "r" in wanted:
        choices = VERA_RANK_CHOICES if method == "vera" else RANK_CHOICES
        values["r"] = _select(method, "r", "Rank r", choices, start.r, "Inner size of the low-rank update.")
    if "alpha" in wanted:
        values["alpha"] = _select(method, "alpha", "Alpha α", ALPHA_CHOICES, start.alpha, "The update is scaled by α / r.")
    if "ratio" in wanted:
        values["ratio"] = _select(method, "ratio", "LoRA+ ratio η_B / η_A", RATIO_CHOICES, start.ratio,
                                  "Learning rate of B over that of A (paper's rule of thumb: 16).")
    if "lam" in wanted:
        values["lam"] = st.slider("Delta-LoRA λ", 0.0, 4.0, float(start.lam), 0.5, key=_k(method, "lam"),
                                  help="How far W moves per change of B·A (paper: 2).")
    if "start_step" in wanted:
        values["start_step"] = int(st.number_input(
            "Delta-LoRA K (first step that moves W)", 0, STEP_RANGE[1], start.start_step, key=_k(method, "K"),
            help="W starts moving after K steps (paper: 500 of a long run)."))
    if "n_tokens" in wanted:
        values["n_tokens"] = _select(method, "n", "Virtual tokens n", TOKEN_CHOICES, start.n_tokens)
    if "bottleneck" in wanted:
        values["bottleneck"] = _select(method, "m", "Bottleneck m", BOTTLENECK_CHOICES, start.bottleneck,
                                       "Width of the adapter's bottleneck (paper searches 8, 64, 256).")
    return values


def budget_knobs(method: str, start: RunConfig) -> dict:
    """Learning rate, steps, batch size and seed."""
    return {
        "lr": float(_select(method, "lr", "Learning rate", LR_CHOICES, start.lr)),
        "steps": int(st.number_input("Steps", *STEP_RANGE, start.steps, step=10, key=_k(method, "steps"))),
        "batch_size": int(_select(method, "batch", "Batch size", BATCH_CHOICES, start.batch_size)),
        "seed": int(st.number_input("Seed", 0, 10_000, start.seed, key=_k(method, "seed"))),
    }


def render_knobs(method: str) -> RunConfig:
    """All knobs of ``method``; returns the ``RunConfig`` they describe."""
    start = defaults(method)
    return dataclasses.replace(start, **method_knobs(method, start), **budget_knobs(method, start))


def choose_method() -> str:
    return st.selectbox("Method", METHOD_CHOICES, index=METHOD_CHOICES.index("lora"), format_func=method_label,
                        key="lab_method")
