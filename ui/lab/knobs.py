"""The lab's knobs: which method, its own knobs and the run's budget, defaults per method.

UI only. Widgets start from ``peft_edu.lab.run_config.defaults(method)`` (the method
module's ``LAB``). The method's knobs are the fields of its own ``Config``
(``dataclasses.fields``) that ``WIDGETS`` has a widget for; the result is the
``RunConfig`` of the next run.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import streamlit as st

from peft_edu.lab import jobs
from peft_edu.lab.run_config import CHECKPOINT_DROPOUT, METHOD_CHOICES, RunConfig, defaults, label

LR_CHOICES = (1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 2e-2, 3e-2, 5e-2, 1e-1)
BATCH_CHOICES = (4, 8, 16, 32)
DROPOUT_CHOICES = (0.0, 0.05, 0.1, 0.2, 0.3)
DROPOUT_HELP = (f"Dropout of the pretrained model's own layers while it trains (its checkpoint uses "
                f"{CHECKPOINT_DROPOUT:g}). Off by default: on these short runs it was measured to reach 90 % "
                "in fewer steps, each a little cheaper. A method's own dropout is not changed.")

def step_range() -> tuple[int, int]:
    """Steps a run may have: 1 up to the teacher's cap (env PEFT_LAB_MAX_STEPS)."""
    return 1, jobs.limits().max_steps


def method_label(key: str) -> str:
    return label(key)


def widget_key(method: str, name: str) -> str:
    """Widget key per method, so every method keeps its own knob values."""
    return f"lab_knob_{method}_{name}"


def nearest(choices: tuple, value):
    return min(choices, key=lambda c: abs(c - value))


@dataclass(frozen=True)
class Widget:
    """How the lab shows one Config field."""

    label: str  # widget label, with the symbol
    choices: tuple = ()  # select-slider steps; () = a number input from 0 to ``top``
    help: str | None = None
    top: int = 0  # number input: largest value


# One widget per Config field name, whichever method has the field. A field with no entry
# (seeds, init choices, dropout) keeps the lab default of its method.
WIDGETS = {
    "r": Widget("Rank r", (1, 2, 4, 8, 16, 32, 64, 128, 256, 384), "Inner size of the low-rank update."),
    "alpha": Widget("Alpha α", (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0), "The update is scaled by α / r."),
    "ratio": Widget("LoRA+ ratio η_B / η_A", (1.0, 2.0, 4.0, 8.0, 16.0, 32.0),
                    "Learning rate of B over that of A (paper's rule of thumb: 16)."),
    "lam": Widget("Delta-LoRA λ", (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0),
                  "How far W moves per change of B·A (paper: 2)."),
    "start_step": Widget("Delta-LoRA K (first step that moves W)", (), "W starts moving after K steps "
                         "(paper: 500 of a long run).", top=2000),
    "n_tokens": Widget("Virtual tokens n", (1, 5, 10, 20, 50)),
    "bottleneck": Widget("Bottleneck m", (8, 16, 32, 64, 128, 256),
                         "Width of the adapter's bottleneck (paper searches 8, 64, 256)."),
}


def _select(method: str, name: str, text: str, choices: tuple, default, help_: str | None = None):
    return st.select_slider(text, choices, value=nearest(choices, default), key=widget_key(method, name), help=help_,
                            format_func=lambda v: f"{v:g}")


def _widget(method: str, name: str, widget: Widget, default):
    if widget.choices:
        value = _select(method, name, widget.label, widget.choices, default, widget.help)
    else:
        value = st.number_input(widget.label, 0, widget.top, default, key=widget_key(method, name), help=widget.help)
    return type(default)(value)


def method_knobs(method: str, start: RunConfig) -> dict:
    """The method's own knobs (fields of its Config) from their widgets."""
    if start.config is None:
        return {}
    return {f.name: _widget(method, f.name, WIDGETS[f.name], getattr(start.config, f.name))
            for f in dataclasses.fields(start.config) if f.name in WIDGETS}


def budget_knobs(method: str, start: RunConfig) -> dict:
    """Learning rate, steps, batch size, the model's dropout and seed."""
    return {
        "lr": float(_select(method, "lr", "Learning rate", LR_CHOICES, start.lr)),
        "steps": _steps(method, start.steps),
        "batch_size": int(_select(method, "batch", "Batch size", BATCH_CHOICES, start.batch_size)),
        "model_dropout": float(_select(method, "model_dropout", "Model dropout", DROPOUT_CHOICES,
                                       start.model_dropout, DROPOUT_HELP)),
        "seed": int(st.number_input("Seed", 0, 10_000, start.seed, key=widget_key(method, "seed"))),
    }


def _steps(method: str, default: int) -> int:
    """Steps up to the teacher's cap, said in a caption (a help icon would share the "Steps" label
    that the browser tests and a screen reader find the input by)."""
    low, top = step_range()
    steps = st.number_input("Steps", low, top, min(default, top), step=10, key=widget_key(method, "steps"))
    st.caption(f"Your teacher allows at most {top:,} steps per run.")
    return int(steps)


def render_knobs(method: str) -> RunConfig:
    """All knobs of ``method``; returns the ``RunConfig`` they describe."""
    start = defaults(method)
    knobs = method_knobs(method, start)
    config = dataclasses.replace(start.config, **knobs) if knobs else start.config
    return dataclasses.replace(start, config=config, **budget_knobs(method, start))


def choose_method() -> str:
    return st.selectbox("Method", METHOD_CHOICES, index=METHOD_CHOICES.index("lora"), format_func=method_label,
                        key="lab_method")
