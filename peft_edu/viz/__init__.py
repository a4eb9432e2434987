"""Plotly figure builders: pure functions that return ``go.Figure``; no Streamlit here.

One visual language across the app (DESIGN.md): frozen weights in grey/blue, trainable
tensors in a warm colour, numbers with thousands separators, every chart titled with
labelled axes and units. Submodules group figures by page.

pandas and threads: plotly (and narwhals, which it uses) look pandas up in ``sys.modules``
without importing it, so a figure built or serialised while another thread is half-way through
``import pandas`` fails ("partially initialized module 'pandas'"). pandas costs 0.5 s to import,
so a server's first page (home) does not: the app imports it with ``load_pandas()`` before any
other page and at the start of its background warm-up, and builds home's figure inside
``pandas_gate()``. The two share one lock, so pandas is never half-imported while such a figure
is built; once pandas is in, neither waits.
"""
from __future__ import annotations

import contextlib
import sys
import threading

from peft_edu.viz.style import FROZEN, FROZEN_SCALE, TRAINABLE, TRAINABLE_SCALE, fmt_int

__all__ = ["FROZEN", "FROZEN_SCALE", "TRAINABLE", "TRAINABLE_SCALE", "fmt_int", "load_pandas", "pandas_gate"]

_GATE = threading.Lock()


def _pandas_loaded() -> bool:
    """pandas is in ``sys.modules`` and its import has finished (importlib marks a module's
    spec ``_initializing`` while its code runs)."""
    module = sys.modules.get("pandas")
    return module is not None and not getattr(getattr(module, "__spec__", None), "_initializing", False)


def load_pandas() -> None:
    """Import pandas, never while a figure is being built in ``pandas_gate()``."""
    if not _pandas_loaded():
        with _GATE:
            import pandas  # noqa: F401


@contextlib.contextmanager
def pandas_gate():
    """Build (and draw) a figure while pandas may not be imported yet: no ``load_pandas()``
    runs meanwhile. Costs nothing once pandas is in."""
    if _pandas_loaded():
        yield
        return
    with _GATE:
        if "pandas" in sys.modules:  # an import begun outside load_pandas(): wait for it to finish
            import pandas  # noqa: F401
        yield
