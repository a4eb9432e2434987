"""What each method page animates: one real tiny run per method and its size knob.

Weight methods (the LoRA family and full fine-tuning) adapt the first layer of the toy MLP
(``lessons.lowrank``); methods that live inside attention blocks (prompt and prefix tuning,
adapters, (IA)³) adapt a tiny pretrained BERT (``lessons.transformer``). The page's size
slider sets the method's size knob (``MethodSpec.size_knob``): the run is rebuilt at that size.
"""
from __future__ import annotations

from dataclasses import dataclass

from peft_edu.lessons import lowrank, transformer
from peft_edu.lessons.core import Run
from peft_edu.methods import protocol
from peft_edu.registry import METHODS, get_method



@dataclass(frozen=True)
class SizeKnob:
    """The page slider of one method."""

    arg: str  # Config field it sets ("r", "n_tokens", "bottleneck"); "" = the layer width d
    label: str  # slider label
    symbol: str  # the symbol in MethodSpec.count_formula ("r", "n", "m", "d")
    options: tuple[int, ...]  # slider stops
    default: int  # starting value

    def config(self, value: int) -> dict[str, int]:
        """Keyword arguments for ``peft_edu.apply``/``layer_params`` (none for the width knob)."""
        return {self.arg: value} if self.arg else {}


SLIDERS = {  # size knob (MethodSpec.size_knob) -> the page slider
    "r": SizeKnob("r", "Rank r", "r", (1, 2, 4, 8, 16, 32, 64), 4),
    # tiny BERT has 32 positions: [CLS] + 8 words + n virtual tokens must fit
    "n_tokens": SizeKnob("n_tokens", "Virtual tokens n", "n", (1, 2, 4, 8, 16), 4),
    "bottleneck": SizeKnob("bottleneck", "Bottleneck width m", "m", (1, 2, 4, 8, 16, 32, 64), 4),
}
WIDTH_KNOB = SizeKnob("", "Layer width d (a d×d layer)", "d", (16, 64, 256, 1000, 4096), 1000)


def knob_of(method: str) -> SizeKnob:
    """The slider of ``method``: its size knob, or the layer width where it has none."""
    return SLIDERS.get(get_method(method).size_knob, WIDTH_KNOB)


def uses_transformer(method: str) -> bool:
    """True when the page run adapts the tiny BERT rather than the toy MLP layer."""
    return protocol(method).lesson.model == "transformer"


def rank_ceiling(method: str) -> int | None:
    """The largest rank the page run's adapted layer can hold, min(d_out, d_in), for a method
    whose slider is a rank; None for other sliders. Above it the update cannot gain rank: the
    extra directions only add parameters (and PiSSA's stay zero)."""
    if knob_of(method).arg != "r":
        return None
    if uses_transformer(method):
        return transformer.TinyBert().d_model  # every linear layer of the tiny BERT has d_in or d_out = d
    task = lowrank.ToyTask()
    return min(task.d_hidden, task.d_in)


def check_size(method: str, size: int) -> int:
    """``size`` if it is a stop of the method's slider, else ValueError naming the stops."""
    knob = knob_of(method)
    if size not in knob.options:
        stops = ", ".join(str(o) for o in knob.options)
        raise ValueError(f"{knob.label} of {method} must be one of {stops}, got {size!r}")
    return size


def page_run(method: str, size: int | None = None) -> Run:
    """The method page's real run at slider value ``size`` (default: the knob's default)."""
    knob = knob_of(method)
    size = check_size(method, knob.default if size is None else size)
    run_size = size if knob.arg else None  # the width knob only changes the counts
    if uses_transformer(method):
        run = transformer.transformer_run(method, run_size)
    else:
        run = lowrank.matrix_run(method, run_size)
    note = protocol(method).lesson.note
    if note:
        run.caption += " " + note
    return run


def layer_sources(method: str) -> list[tuple[str, str]]:
    """(title, source code) of the method's module and, for LoRA variants, of the LoRA layer
    they build on: the code that trained in the animation, shown as it is."""
    import inspect

    module = protocol(method).module
    path = module.__name__.replace(".", "/") + ".py"
    sources = [(path, inspect.getsource(module))]
    for layer in layers_built_on(module):
        where = layer.__module__.replace(".", "/") + ".py"
        sources.append((f"{where}: {layer.__name__}, the layer it builds on", inspect.getsource(layer)))
    return sources


def layers_built_on(module) -> list[type]:
    """Layer classes of other method modules that ``module`` uses (imports or subclasses)."""
    from torch import nn

    own = module.__name__
    found = [obj for obj in vars(module).values() if isinstance(obj, type) and issubclass(obj, nn.Module)
             and obj.__module__.startswith("peft_edu.methods.") and obj.__module__ != own]
    return list(dict.fromkeys(found))
