"""Plotly figure builders: pure functions that return ``go.Figure``; no Streamlit here.

One visual language across the app (DESIGN.md): frozen weights in grey/blue, trainable
tensors in a warm colour, numbers with thousands separators, every chart titled with
labelled axes and units. Submodules group figures by page.
"""
# pandas is imported here, before any figure is built: plotly looks pandas up in
# sys.modules without importing it, so a figure built while another thread is half-way
# through `import pandas` fails ("partially initialized module 'pandas'"). An import here
# waits for such a thread to finish instead.
import pandas  # noqa: F401

from peft_edu.viz.style import FROZEN, FROZEN_SCALE, TRAINABLE, TRAINABLE_SCALE, fmt_int

__all__ = ["FROZEN", "FROZEN_SCALE", "TRAINABLE", "TRAINABLE_SCALE", "fmt_int"]
