"""The method page's parameter counts: a big layer (or model), the toy layer, the formula filled in.

Per-layer methods are counted on a 1,000×1,000 layer with ``peft_edu.layer_params`` (LoRA,
r = 4: 4·(1,000 + 1,000) = 8,000 of 1,000,000) and on the animation's toy layer, which is
also built and counted parameter by parameter. Prompt and prefix tuning add parameters
per model, not per layer: they are counted on all-MiniLM-L6-v2 (the live lab's model) and on
the animation's tiny BERT with ``peft_edu.count`` (meta device, no weights allocated).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from peft_edu.lessons import lowrank, transformer
from peft_edu.lessons.explainer import check_size, knob_of, uses_transformer
from peft_edu.lessons.toy import ToyTask, make_toy
from peft_edu.methods import protocol
from peft_edu.registry import get_method

BIG = 1000  # the page's example layer is BIG × BIG
LAB_MODEL = "all-MiniLM-L6-v2"  # the live lab's pretrained model (peft_edu.models presets)


@dataclass(frozen=True)
class CountRow:
    """Trainable vs frozen parameters of one layer or model under a method."""

    label: str  # what is counted, e.g. "one 1,000×1,000 layer"
    trainable: int  # parameters the method trains
    frozen: int  # pretrained parameters that stay frozen (0 for full fine-tuning)
    formula: str  # LaTeX: the registry's count formula with the numbers filled in ("" if none)
    counted: int | None = None  # the same count from the built module's requires_grad parameters

    @property
    def total(self) -> int:
        return self.trainable + self.frozen

    @property
    def share(self) -> float:
        """Trainable share of all parameters of the layer (model), in percent."""
        return 100.0 * self.trainable / self.total if self.total else 0.0


def latex_int(n: int) -> str:
    """1000000 -> '1{,}000{,}000' (thousands separators that LaTeX does not space out)."""
    return f"{n:,}".replace(",", "{,}")


_SYMBOL = re.compile(r"d_\{in\}|d_\{out\}|(?<![\\A-Za-z_{])[rnmLd](?![A-Za-z_])")
_TEXT = re.compile(r"(\\text\{[^}]*\})")


def fill_formula(latex: str, values: dict[str, int]) -> str:
    """Put numbers into a count formula: 'r\\,(d_{in} + d_{out})' -> '4 \\cdot (1{,}000 + 1{,}000)'.

    Symbols: d_{in}, d_{out} and the single letters r, n, m, L, d; text in \\text{...} is left
    alone; juxtaposition (a thin space '\\,') becomes an explicit product.
    """
    def one(match: re.Match) -> str:
        name = match.group(0)
        return latex_int(values[name]) if name in values else name

    parts = _TEXT.split(latex)
    filled = [p if p.startswith(r"\text") else _SYMBOL.sub(one, p) for p in parts]
    return re.sub(r"\s*\\,\s*", r" \\cdot ", "".join(filled)).strip()


def _with_result(method: str, values: dict[str, int], result: int) -> str:
    formula = get_method(method).count_formula
    link = r"\;\Rightarrow\;" if r",\ " in formula else "="  # (IA)³'s formula lists two cases
    return f"{fill_formula(formula, values)} {link} {latex_int(result)}"


def _layer_row(method: str, size: int, d_out: int, d_in: int, label: str, counted: int | None = None,
               lesson: bool = False) -> CountRow:
    """One layer's count at slider value ``size``; with ``lesson``, the other knobs as the page's
    run has them (its module's ``LESSON`` config: OFT's toy run uses blocks of 8), else the paper's."""
    import dataclasses

    from peft_edu.inject import layer_params

    knob = knob_of(method)
    options = dataclasses.asdict(protocol(method).lesson.config) if lesson else {}
    trainable = layer_params(method, d_out, d_in, **{**options, **knob.config(size)})
    values = {"d_{out}": d_out, "d_{in}": d_in, "d": d_out, knob.symbol: size}
    frozen = 0 if get_method(method).family == "baseline" else d_out * d_in  # full FT freezes nothing
    return CountRow(label, trainable, frozen, _with_result(method, values, trainable), counted)


@lru_cache(maxsize=256)
def counted_toy_layer(method: str, size: int | None) -> int:
    """Build the animation's toy model and count the adapted layer's trainable parameters
    (its own bias excluded: no method's formula counts biases)."""
    layer = lowrank.adapted_layer(lowrank.build(method, size, make_toy()))
    return sum(p.numel() for name, p in layer.named_parameters() if p.requires_grad and name != "bias")


@lru_cache(maxsize=256)
def _model_counts(model: str, method: str, size_items: tuple) -> dict:
    import peft_edu

    config = model if model == LAB_MODEL else transformer.TinyBert().config()
    return peft_edu.count(config, method, task="seq_cls", **dict(size_items))


def _dims(model: str) -> tuple[int, int]:
    """(d_model, number of blocks L) of the lab model or the tiny BERT."""
    if model == LAB_MODEL:
        from peft_edu.models import hf_config, hf_dims

        dims = hf_dims(hf_config(LAB_MODEL))
        return dims["d_model"], dims["n_layers"]
    sizes = transformer.TinyBert()
    return sizes.d_model, sizes.n_layers


def _model_row(method: str, size: int, model: str, label: str) -> CountRow:
    """Counts on a whole model, without its task head (which trains in every method)."""
    c = _model_counts(model, method, tuple(knob_of(method).config(size).items()))
    d, n_layers = _dims(model)
    formula = ""
    if protocol(method).per_model:
        formula = _with_result(method, {"n": size, "d": d, "L": n_layers}, c["trainable_without_head"])
    return CountRow(label, c["trainable_without_head"], c["base_total"] - c["head_params"], formula,
                    c["trainable_without_head"])


def page_counts(method: str, size: int) -> list[CountRow]:
    """The rows of the method page's count panel at slider value ``size``."""
    check_size(method, size)
    knob = knob_of(method)
    if protocol(method).per_model:
        return [_model_row(method, size, LAB_MODEL, f"{LAB_MODEL} (the live lab's model)"),
                _model_row(method, size, "tiny", "the animation's tiny BERT")]
    big = size if not knob.arg else BIG
    rows = [_layer_row(method, size, big, big, f"one {big:,}×{big:,} layer")]
    if uses_transformer(method):  # adapters, (IA)³: one projection of the tiny BERT, and all of it
        d = transformer.TinyBert().d_model
        rows.append(_layer_row(method, size, d, d, f"one {d}×{d} projection of the tiny BERT"))
        rows.append(_model_row(method, size, "tiny", "the animation's whole tiny BERT"))
        return rows
    task, run_size = ToyTask(), (size if knob.arg else None)
    rows.append(_layer_row(method, size, task.d_hidden, task.d_in,
                           f"the animation's {task.d_hidden}×{task.d_in} toy layer",
                           counted_toy_layer(method, run_size), lesson=True))
    return rows
