"""Numeric quiz questions generated from peft_edu's own formulas with random sizes.

A template (assets/quiz/generated.toml) names the sizes to draw from and a formula; the
answer is computed here by the same library code the app's pages use, never typed in by
hand — so a question can never disagree with the calculator or the method pages.
"""
from __future__ import annotations

import random

from peft_edu.sizing.memory import GB, full_finetune_bytes
from peft_edu.quiz.bank import Question, Template

_SIZE_NAMES = ("d_out", "d_in", "layers", "billions", "gpus")  # drawn sizes, not method config


def _layer_params(t: Template, values: dict) -> tuple[float, dict]:
    """Trainable parameters of ``per_layer`` identical matrices in each of ``layers`` layers."""
    from peft_edu import layer_params  # import-light: torch loads only when a quiz needs it

    config = {k: v for k, v in values.items() if k not in _SIZE_NAMES}
    per_matrix = layer_params(t.method, values["d_out"], values["d_in"], **config)
    return per_matrix * t.per_layer * values.get("layers", 1), {"per_matrix": per_matrix}


def _finetune_gb(t: Template, values: dict) -> tuple[float, dict]:
    """Weights + gradients + optimizer states of full mixed-precision AdamW fine-tuning, in GB."""
    total = full_finetune_bytes(int(values["billions"] * 1e9)).total / GB
    return total, {}


def _finetune_gb_per_gpu(t: Template, values: dict) -> tuple[float, dict]:
    """The same memory sharded evenly over ``gpus`` devices (ZeRO-3 / fully sharded FSDP)."""
    total, _ = _finetune_gb(t, values)
    return total / values["gpus"], {"total_gb": total}


_FORMULAS = {
    "layer_params": _layer_params,
    "finetune_gb": _finetune_gb,
    "finetune_gb_per_gpu": _finetune_gb_per_gpu,
}


def draw(t: Template, rng: random.Random) -> dict:
    """Draw one value per choice; a ``shape`` pair becomes d_out and d_in."""
    values = {name: rng.choice(options) for name, options in t.choices}
    if "shape" in values:
        values["d_out"], values["d_in"] = values.pop("shape")
    return values


def answer_for(t: Template, values: dict) -> tuple[float, dict]:
    """The template's answer for drawn ``values``, plus extra placeholders for its text."""
    return _FORMULAS[t.formula](t, values)


def generate(t: Template, rng: random.Random) -> Question:
    """A concrete numeric question from a template; the rng decides the sizes."""
    values = draw(t, rng)
    answer, extra = answer_for(t, values)
    fields = {**values, **extra, "answer": answer, "per_layer": t.per_layer}
    sizes = "-".join(f"{k}{values[k]}" for k in sorted(values))
    return Question(
        id=f"{t.id}:{sizes}",
        topic=t.topic,
        kind="numeric",
        difficulty=t.difficulty,
        prompt=t.prompt.format(**fields),
        options=(),
        correct=frozenset(),
        answer=answer,
        tolerance=t.tolerance,
        unit=t.unit,
        explanation=t.explanation.format(**fields),
        page=t.page,
        check=(("template", t.id), *sorted(values.items())),
    )
